pub mod netns;
pub mod opensips;
pub mod sipp;
