//! The emitter against go-yaml v2 output.

use super::*;
use serde_json::json;

#[test]
fn stream_output_separates_documents() {
    let out = to_yaml_stream(&[json!({"a": 1}), json!({"b": "yes"})]);
    assert_eq!(out, "a: 1\n---\nb: \"yes\"\n");
}

#[test]
fn scalars_are_quoted_as_go_yaml_v2_quotes_them() {
    let v = json!({"a": "*", "b": "'", "c": "", "d": "1:20", "e": "2020-01-02", "f": "0x1F",
        "g": "yes", "h": "1e3", "i": "plain text", "j": "tab\there", "k": "- x", "l": 1.5,
        "m": 2.0, "n": 1234567.5, "o": null});
    assert_eq!(
        to_yaml(&v),
        "a: '*'\nb: ''''\nc: \"\"\nd: \"1:20\"\ne: \"2020-01-02\"\nf: \"0x1F\"\ng: \"yes\"\n\
         h: \"1e3\"\ni: plain text\nj: \"tab\\there\"\nk: '- x'\nl: 1.5\nm: 2\n\"n\": 1.2345675e+06\no: null\n"
    );
}

#[test]
fn block_layout_and_key_order_follow_go_yaml() {
    // YAML 1.1 reads a plain `y` as a boolean, so go-yaml v2 quotes it even as a key.
    let v = json!({"b": [{"y": 1, "x": []}, [1, 2]], "a10": {}, "a9": {"k": "v"}, "_z": 1});
    assert_eq!(
        to_yaml(&v),
        "_z: 1\na9:\n  k: v\na10: {}\nb:\n- x: []\n  \"y\": 1\n- - 1\n  - 2\n"
    );
}

#[test]
fn multi_line_strings_are_literal_blocks_with_go_yaml_hints() {
    let v = json!({"a": "x\ny\n", "b": "x\ny", "c": " x\n", "d": "x\n\n", "e": "x \ny"});
    assert_eq!(
        to_yaml(&v),
        "a: |\n  x\n  y\nb: |-\n  x\n  y\nc: |2\n   x\nd: |+\n  x\n\ne: \"x \\ny\"\n"
    );
}

#[test]
fn long_scalars_fold_past_column_80() {
    let words = "lorem ipsum dolor sit amet ".repeat(4);
    let v = json!({"k": words.trim_end()});
    assert_eq!(
        to_yaml(&v),
        "k: lorem ipsum dolor sit amet lorem ipsum dolor sit amet lorem ipsum dolor sit amet\n  lorem ipsum dolor sit amet\n"
    );
}
