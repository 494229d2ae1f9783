pub mod process;
pub mod sipcall;

#[cfg(not(feature = "kamailio"))]
pub mod netns;
#[cfg(not(feature = "kamailio"))]
pub mod opensips;
#[cfg(not(feature = "kamailio"))]
pub mod sipp;

#[cfg(feature = "kamailio")]
pub mod kamailio;
