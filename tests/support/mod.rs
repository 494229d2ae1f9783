pub mod process;
pub mod sipcall;

#[cfg(not(feature = "kamailio"))]
pub mod opensips;

#[cfg(feature = "kamailio")]
pub mod kamailio;
