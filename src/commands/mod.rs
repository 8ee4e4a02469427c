pub mod credential_helper;
pub mod login;
pub mod push;
