//! The relay workers' I/O back ends, one room each.

pub(crate) mod epoll;
#[allow(unsafe_code)]
pub(crate) mod uring;
