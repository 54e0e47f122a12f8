//! The rights matrix: for every kind of thing a caller can do, which
//! holdings allow it, and on which scope. It is the only source of
//! authorization decisions: the gateway turns a caller into the
//! [`Holding`]s they have where the action takes place, and asks
//! [`Permission::allows`].
//!
//! A territory right grants exactly what its row says. In particular the
//! audit, configuration and webhooks rights give no footing in the
//! territory's organisations: their usagers, RDVs and follow-ups stay out of
//! reach, as RDV Service Public keeps them for the organisation's agents.

use serde::Serialize;

/// What a caller holds where an action takes place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Holding {
    /// The platform's admin token: everything, everywhere.
    PlatformAdmin,
    /// Territorial admin: admin of every organisation of the territory.
    TerritoryAdmin,
    /// The territory's configuration right: settings, services, motifs,
    /// organisations, lieux and categories; no usager data.
    ConfigurationRight,
    /// The territory's webhooks right: webhook endpoints and deliveries.
    WebhooksRight,
    /// The territory's audit right: the history of its records, read-only.
    AuditRight,
    /// An admin role in the organisation.
    OrganisationAdmin,
    /// A basic role in the organisation.
    OrganisationAgent,
    /// A role in some organisation of the territory (reads the territory's
    /// shared catalogue: its settings and motifs).
    TerritoryMember,
    /// The agent the action is about is the caller (their own agenda).
    Oneself,
}

impl Holding {
    pub const ALL: [Holding; 9] = [
        Holding::PlatformAdmin,
        Holding::TerritoryAdmin,
        Holding::ConfigurationRight,
        Holding::WebhooksRight,
        Holding::AuditRight,
        Holding::OrganisationAdmin,
        Holding::OrganisationAgent,
        Holding::TerritoryMember,
        Holding::Oneself,
    ];

    /// The column title in the README's table.
    pub fn title(self) -> &'static str {
        match self {
            Holding::PlatformAdmin => "platform admin",
            Holding::TerritoryAdmin => "territory admin",
            Holding::ConfigurationRight => "configuration right",
            Holding::WebhooksRight => "webhooks right",
            Holding::AuditRight => "audit right",
            Holding::OrganisationAdmin => "organisation admin",
            Holding::OrganisationAgent => "organisation agent",
            Holding::TerritoryMember => "agent of the territory",
            Holding::Oneself => "the agent themself",
        }
    }
}

/// Where an action takes place: what the caller's holdings are read against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The whole platform.
    Platform,
    /// One territory.
    Territory,
    /// One organisation (and the territory it belongs to).
    Organisation,
    /// One agent's agenda, in one of the agent's organisations.
    Agenda,
}

/// Every kind of thing an agent or admin may do. Usagers act through their
/// own tokens (participation, invitation), which open only their records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    CreateTerritory,
    ReadEventFeed,
    ReadTerritory,
    ManageServices,
    GrantTerritoryRights,
    ReadTerritoryCatalogue,
    ConfigureTerritory,
    ManageWebhooks,
    Audit,
    ReadOrganisation,
    UpdateOrganisation,
    ListAgents,
    ManageAgents,
    ReadOrganisationCatalogue,
    ConfigureOrganisation,
    Usagers,
    ForgetUsager,
    Rdvs,
    Insertion,
    Agenda,
}

use Holding::*;

impl Permission {
    pub const ALL: [Permission; 20] = [
        Permission::CreateTerritory,
        Permission::ReadEventFeed,
        Permission::ReadTerritory,
        Permission::ManageServices,
        Permission::GrantTerritoryRights,
        Permission::ReadTerritoryCatalogue,
        Permission::ConfigureTerritory,
        Permission::ManageWebhooks,
        Permission::Audit,
        Permission::ReadOrganisation,
        Permission::UpdateOrganisation,
        Permission::ListAgents,
        Permission::ManageAgents,
        Permission::ReadOrganisationCatalogue,
        Permission::ConfigureOrganisation,
        Permission::Usagers,
        Permission::ForgetUsager,
        Permission::Rdvs,
        Permission::Insertion,
        Permission::Agenda,
    ];

    /// The matrix itself: the scope of each permission, what it covers, and
    /// the holdings that grant it.
    pub fn row(self) -> (Scope, &'static str, &'static [Holding]) {
        match self {
            Permission::CreateTerritory => (Scope::Platform, "create territories", &[PlatformAdmin]),
            Permission::ReadEventFeed => (Scope::Platform, "read the global event feed", &[PlatformAdmin]),
            Permission::ReadTerritory => (
                Scope::Territory,
                "read a territory and its organisations",
                &[PlatformAdmin, TerritoryAdmin, ConfigurationRight],
            ),
            Permission::ManageServices => (
                Scope::Territory,
                "activate and deactivate services",
                &[PlatformAdmin, TerritoryAdmin, ConfigurationRight],
            ),
            Permission::GrantTerritoryRights => (
                Scope::Territory,
                "grant territory rights",
                &[PlatformAdmin, TerritoryAdmin],
            ),
            Permission::ReadTerritoryCatalogue => (
                Scope::Territory,
                "read the espace settings and motifs",
                &[PlatformAdmin, TerritoryAdmin, ConfigurationRight, TerritoryMember],
            ),
            Permission::ConfigureTerritory => (
                Scope::Territory,
                "change espace settings, motifs, organisations; read their history",
                &[PlatformAdmin, TerritoryAdmin, ConfigurationRight],
            ),
            Permission::ManageWebhooks => (
                Scope::Territory,
                "manage webhook endpoints and deliveries",
                &[PlatformAdmin, TerritoryAdmin, WebhooksRight],
            ),
            Permission::Audit => (
                Scope::Territory,
                "read the history of the territory's records and agents",
                &[PlatformAdmin, TerritoryAdmin, AuditRight],
            ),
            Permission::ReadOrganisation => (
                Scope::Organisation,
                "read the organisation",
                &[PlatformAdmin, TerritoryAdmin, OrganisationAdmin, OrganisationAgent],
            ),
            Permission::UpdateOrganisation => (
                Scope::Organisation,
                "change the organisation",
                &[PlatformAdmin, TerritoryAdmin, OrganisationAdmin],
            ),
            Permission::ListAgents => (
                Scope::Organisation,
                "list and read the organisation's agents",
                &[PlatformAdmin, TerritoryAdmin, OrganisationAdmin, OrganisationAgent],
            ),
            Permission::ManageAgents => (
                Scope::Organisation,
                "invite, re-invite, change and remove agents",
                &[PlatformAdmin, TerritoryAdmin, OrganisationAdmin],
            ),
            Permission::ReadOrganisationCatalogue => (
                Scope::Organisation,
                "list the organisation's motifs, lieux and motif categories",
                &[
                    PlatformAdmin,
                    TerritoryAdmin,
                    ConfigurationRight,
                    OrganisationAdmin,
                    OrganisationAgent,
                ],
            ),
            Permission::ConfigureOrganisation => (
                Scope::Organisation,
                "manage lieux, enable motifs, configure motif categories",
                &[PlatformAdmin, TerritoryAdmin, ConfigurationRight, OrganisationAdmin],
            ),
            Permission::Usagers => (
                Scope::Organisation,
                "create, read, change, search and archive usagers",
                &[PlatformAdmin, TerritoryAdmin, OrganisationAdmin, OrganisationAgent],
            ),
            Permission::ForgetUsager => (
                Scope::Organisation,
                "erase an usager (RGPD)",
                &[PlatformAdmin, TerritoryAdmin, OrganisationAdmin],
            ),
            Permission::Rdvs => (
                Scope::Organisation,
                "search slots, book, read, list, change and cancel RDVs",
                &[PlatformAdmin, TerritoryAdmin, OrganisationAdmin, OrganisationAgent],
            ),
            Permission::Insertion => (
                Scope::Organisation,
                "invite and convoke usagers, follow-ups and their stats",
                &[PlatformAdmin, TerritoryAdmin, OrganisationAdmin, OrganisationAgent],
            ),
            Permission::Agenda => (
                Scope::Agenda,
                "read and change an agent's plages, absences and agenda",
                &[PlatformAdmin, TerritoryAdmin, OrganisationAdmin, Oneself],
            ),
        }
    }

    pub fn scope(self) -> Scope {
        self.row().0
    }

    /// Whether any of the caller's holdings grants this permission.
    pub fn allows(self, holdings: &[Holding]) -> bool {
        let granted = self.row().2;
        holdings.iter().any(|h| granted.contains(h))
    }

    /// The README's table of the matrix, in Markdown.
    pub fn markdown_table() -> String {
        let mut table = String::from("| permission | scope | covers |");
        for holding in Holding::ALL {
            table.push_str(&format!(" {} |", holding.title()));
        }
        table.push_str("\n|---|---|---|");
        table.push_str(&"---|".repeat(Holding::ALL.len()));
        for permission in Permission::ALL {
            let (scope, covers, granted) = permission.row();
            let name = serde_json::to_value(permission).unwrap_or_default();
            let scope = serde_json::to_value(scope).unwrap_or_default();
            table.push_str(&format!(
                "\n| `{}` | {} | {covers} |",
                name.as_str().unwrap_or_default(),
                scope.as_str().unwrap_or_default()
            ));
            for holding in Holding::ALL {
                table.push_str(if granted.contains(&holding) { " ✓ |" } else { " |" });
            }
        }
        table.push('\n');
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_right_reads_history_and_nothing_of_the_organisations() {
        for permission in Permission::ALL {
            let expected = permission == Permission::Audit;
            assert_eq!(permission.allows(&[AuditRight]), expected, "{permission:?}");
        }
    }

    #[test]
    fn no_territory_right_but_admin_reaches_usagers_or_rdvs() {
        for permission in [
            Permission::Usagers,
            Permission::Rdvs,
            Permission::Insertion,
            Permission::ForgetUsager,
        ] {
            assert!(!permission.allows(&[ConfigurationRight, WebhooksRight, AuditRight, TerritoryMember]));
            assert!(permission.allows(&[TerritoryAdmin]));
        }
    }

    #[test]
    fn the_platform_admin_may_do_everything_and_every_permission_is_listed_once() {
        let names: std::collections::BTreeSet<_> = Permission::ALL.iter().map(|p| format!("{p:?}")).collect();
        assert_eq!(names.len(), Permission::ALL.len());
        assert!(Permission::ALL.iter().all(|p| p.allows(&[PlatformAdmin])));
        let table = Permission::markdown_table();
        assert_eq!(table.lines().count(), Permission::ALL.len() + 2);
    }
}
