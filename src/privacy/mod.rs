//! Privacy at the source (issue 12): fields blocked or replaced by a keyed
//! hash before they leave the connector, in every output it writes.
//!
//! | module | room |
//! | --- | --- |
//! | [`path`] | the field path grammar (`email`, `addresses[].line1`, `cf_*`) |
//! | [`policy`] | `field_policies` and `hash_key` checked against the schemas and compiled into a rule tree per stream; the keyed hash |
//! | [`apply`] | the rule tree on a record's raw JSON, on the record fast path |
//! | [`schema`] | the rule tree on a stream's schema, for `discover` and the catalogs built from it |
//!
//! Streams without a policy never reach this module: their records keep
//! the fast path that copies the API's bytes.

pub mod apply;
pub mod path;
pub mod policy;
pub mod schema;

pub use apply::NotWalkable;
pub use path::FieldPath;
pub use policy::{Action, FieldPolicies, FieldPolicyEntry, HashKey, Normalize, StreamPolicy};
