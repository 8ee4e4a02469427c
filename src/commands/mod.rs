pub mod login;
pub mod push;
