#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gridbook_fuzz::fuzz(gridbook_fuzz::decode_request, data));
