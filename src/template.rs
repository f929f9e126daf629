//! Credential templates: what a payload holds and how the browser asks for it.
//!
//! The core ships two: an Entra ID app registration's credentials, and free
//! text. The template id travels in the (encrypted) payload and, as plain
//! metadata, in the upload, so that the reveal page can lay the fields out.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Tenant ID, client ID, client secret, its expiry date and the cloud,
    /// checked by [`crate::credential`].
    EntraApp,
    /// One free-form text field.
    Text,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    /// Shown masked until the reader asks to see it.
    pub secret: bool,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Template {
    pub id: &'static str,
    pub title: &'static str,
    pub kind: Kind,
    pub fields: &'static [Field],
}

pub const ENTRA_FIELDS: &[Field] = &[
    Field {
        name: "tenant_id",
        label: "Directory (tenant) ID",
        secret: false,
    },
    Field {
        name: "client_id",
        label: "Application (client) ID",
        secret: false,
    },
    Field {
        name: "client_secret",
        label: "Client secret value",
        secret: true,
    },
    Field {
        name: "secret_expires_on",
        label: "Secret expires on",
        secret: false,
    },
    Field {
        name: "cloud",
        label: "Cloud",
        secret: false,
    },
];

pub const BUILTIN: &[Template] = &[
    Template {
        id: "entra-app",
        title: "Microsoft 365 / Entra app credentials",
        kind: Kind::EntraApp,
        fields: ENTRA_FIELDS,
    },
    Template {
        id: "text",
        title: "Text",
        kind: Kind::Text,
        fields: &[Field {
            name: "text",
            label: "Text",
            secret: true,
        }],
    },
];

pub fn find(id: &str) -> Option<&'static Template> {
    BUILTIN.iter().find(|t| t.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_templates_are_found_by_id() {
        assert_eq!(find("entra-app").unwrap().kind, Kind::EntraApp);
        assert_eq!(find("text").unwrap().fields.len(), 1);
        assert!(find("nope").is_none());
    }
}
