//! The page splitter (`source_ecommerce::json_page`) held to serde_json, the
//! splitter it replaced, and to itself across its SIMD kernels.
//!
//! The defaults fit CI's debug build; for the deep run,
//! `PAGE_SPLIT_MUTATIONS=10000000 cargo test --release --test page_split`.

mod behaviour;
mod boundaries;
mod common;
mod depth;
mod differential;
mod offsets;
mod paths;
