//! Small helpers for walking AWS Query (XML) answers with `roxmltree`.
//!
//! Tag names are matched by local name: answers put every element in the
//! service's default namespace.

use roxmltree::{Document, Node};

/// Parses an answer, panicking with the text when it is not XML.
pub(crate) fn parse<'i>(action: &str, text: &'i str) -> Document<'i> {
    Document::parse(text).unwrap_or_else(|e| panic!("{action}: bad XML ({e}): {text}"))
}

/// The child elements of `node` called `tag`.
pub(crate) fn children<'a, 'i>(node: Node<'a, 'i>, tag: &str) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(move |c| c.has_tag_name(tag))
}

/// The first child element of `node` called `tag`.
pub(crate) fn child<'a, 'i>(node: Node<'a, 'i>, tag: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|c| c.has_tag_name(tag))
}

/// The element reached from `node` by following the first child with each
/// name in `path`.
pub(crate) fn path<'a, 'i>(node: Node<'a, 'i>, path: &[&str]) -> Option<Node<'a, 'i>> {
    path.iter().try_fold(node, |n, tag| child(n, tag))
}

/// The text of the first child element of `node` called `tag` (`""` for an
/// empty element).
pub(crate) fn text<'a>(node: Node<'a, '_>, tag: &str) -> Option<&'a str> {
    child(node, tag).map(|c| c.text().unwrap_or_default())
}
