//! Plugins that must not build: the Python SDK refuses these at worker
//! creation; the Rust SDK refuses them at compile time.

#[test]
fn invalid_activity_definitions_fail_to_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/compile_fail/*.rs");
}
