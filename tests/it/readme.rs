//! The README's function and view reference is generated from the functions' Documentation
//! and the views' comments; this test fails when it is stale.
//! `PERSONA_BLESS=1 cargo test --test it readme` rewrites it.

use crate::root;

const BEGIN: &str = "<!-- BEGIN GENERATED REFERENCE: edit the functions' Documentation and the views' comments, then PERSONA_BLESS=1 cargo test --test it readme -->\n";
const END: &str = "<!-- END GENERATED REFERENCE -->";

#[tokio::test]
async fn readme_reference_is_current() {
    let session = persona::SessionBuilder::new()
        .with_sample()
        .unwrap()
        .build()
        .await
        .unwrap();
    let generated = persona::docs::reference_markdown(&session.ctx).await;
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme.find(BEGIN).expect("README has the BEGIN marker") + BEGIN.len();
    let end = readme.find(END).expect("README has the END marker");
    if std::env::var_os("PERSONA_BLESS").is_some() {
        let updated = format!("{}{}{}", &readme[..start], generated, &readme[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert!(
        readme[start..end] == generated,
        "README.md reference is stale; rerun with PERSONA_BLESS=1"
    );
}
