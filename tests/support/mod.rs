pub mod baresip;
pub mod dispatcher;
pub mod natlab;
pub mod netns;
pub mod process;
pub mod proxy;
pub mod sdpgen;
pub mod sipcall;
pub mod sipp;
pub mod twonets;

#[cfg(not(feature = "kamailio"))]
pub mod opensips;

#[cfg(feature = "kamailio")]
pub mod kamailio;
