//! The auth rule (CLI.md): our token cache, then Helm's registry config, then
//! a fresh ECR token; after a refusal, one fresh ECR token.
