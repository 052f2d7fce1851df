//! Generates the Kotlin, Swift and Python bindings of the phone library (see `scripts/bindgen`).

fn main() {
    uniffi::uniffi_bindgen_main()
}
