// The upstream tests of the fix (strsim 0.9.3, src/lib.rs unit tests
// `jaro_same_one_character` and `jaro_winkler_same_one_character`), moved to an
// integration test so they call the public API and survive any change to src/.
// `jaro_diff_one_character` pins the other half of the one-character case.
extern crate strsim; // the crate is edition 2015

use strsim::{jaro, jaro_winkler};

#[test]
fn jaro_same_one_character() {
    assert_eq!(1.0, jaro("a", "a"));
}

#[test]
fn jaro_winkler_same_one_character() {
    assert_eq!(1.0, jaro_winkler("a", "a"));
}

#[test]
fn jaro_diff_one_character() {
    assert_eq!(0.0, jaro("a", "b"));
}
