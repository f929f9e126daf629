//! Credential templates: what a payload holds and how the browser asks for it.
//!
//! The core ships two: an Entra ID app registration's credentials, and free
//! text. The template id travels in the (encrypted) payload and, as plain
//! metadata, in the upload, so that the reveal page can lay the fields out.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    /// Tenant ID, client ID, client secret, its expiry date and the cloud,
    /// checked by [`crate::credential`].
    EntraApp,
    /// One free-form text field.
    Text,
    /// Files, uploaded as a file transfer bound to the request; the payload
    /// names the transfer and holds its key (`transfer`, `key`).
    Files,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct Field {
    pub(crate) name: &'static str,
    pub(crate) label: &'static str,
    /// Shown masked until the reader asks to see it.
    pub(crate) secret: bool,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct Template {
    pub(crate) id: &'static str,
    pub(crate) title: &'static str,
    pub(crate) kind: Kind,
    pub(crate) fields: &'static [Field],
}

/// The fields every `entra-app` payload has, the one list of their names:
/// anything else in such a payload is an integration template's own field.
pub(crate) const ENTRA_FIELDS: &[Field] = &[
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

pub(crate) const BUILTIN: &[Template] = &[
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

pub(crate) fn find(id: &str) -> Option<&'static Template> {
    BUILTIN.iter().find(|t| t.id == id)
}

/// Whether `name` is one of [`ENTRA_FIELDS`].
pub(crate) fn is_entra_field(name: &str) -> bool {
    ENTRA_FIELDS.iter().any(|f| f.name == name)
}

/// A readable name for the template `id`: the integration template's title
/// when there is one (`integration_title`), else the built-in template's,
/// else the id itself.
pub(crate) fn title<'a>(id: &'a str, integration_title: Option<&'a str>) -> &'a str {
    integration_title
        .or_else(|| find(id).map(|t| t.title))
        .unwrap_or(id)
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

    #[test]
    fn entra_fields_are_the_five_core_names() {
        let names: Vec<&str> = ENTRA_FIELDS.iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            [
                "tenant_id",
                "client_id",
                "client_secret",
                "secret_expires_on",
                "cloud"
            ]
        );
        assert!(is_entra_field("cloud") && !is_entra_field("workspace_id"));
    }

    #[test]
    fn a_title_comes_from_the_integration_then_the_builtin_then_the_id() {
        assert_eq!(title("o365-management", Some("Office 365")), "Office 365");
        assert_eq!(title("text", None), "Text");
        assert_eq!(title("nope", None), "nope");
    }
}
