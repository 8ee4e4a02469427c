pub mod login;
pub mod push;
pub mod credential_helper;
