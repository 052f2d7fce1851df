//! HTTP plumbing the routes share, and nothing else: extractors whose rejections are the API's
//! JSON errors ([`extract`]) and the one toolkit for query parameters ([`params`]: pages,
//! times, codes, ids; one syntax each, one error code). Route modules import these, never each
//! other.

pub mod extract;
pub mod params;
