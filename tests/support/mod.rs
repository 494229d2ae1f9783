pub mod opensips;
