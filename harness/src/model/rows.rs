//! The rows of a site database as the generator makes them: clients and their inventory,
//! applications, deployments, collections, updates, boundaries, custom tables.

use chrono::NaiveDate;

use super::catalogs::OsImage;

/// One client: a row of `System_DISC` and its inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub item_key: i64,
    pub netbios_name: String,
    pub user_name: String,
    pub ip_address: String,
    pub mac_address: String,
    pub email: String,
    pub client_version: String,
    pub os: OsImage,
    /// The OS caption as this client's inventory spells it (see [`Spelling`]).
    pub os_caption: String,
    /// Update build revision: the fourth part of the OS build.
    pub ubr: u32,
    /// 0 = current branch, 1 = current branch for business, 2 = long-term servicing.
    pub branch: Option<u8>,
    pub bios_date: NaiveDate,
    pub os_install_date: NaiveDate,
    pub uefi: bool,
    pub secure_boot: bool,
    pub tpm: bool,
    pub is_virtual: bool,
    /// The processor name as this client's inventory spells it (see [`Spelling`]).
    pub cpu: String,
    /// Days since the client last reported a heartbeat, counted back from install.
    pub last_active_days: u32,
    /// Endpoint Protection: 1 protected, 2 at risk, 3 unknown, 4 unsupported.
    pub ep_state: u8,
}

/// How a client's inventory spells a name: real inventory has the same processor or OS in other
/// cases and with trailing spaces, which SQL Server's `SQL_Latin1_General_CP1_CI_AS` (the
/// collation Configuration Manager requires) groups as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    AsIs,
    Upper,
    Lower,
    TrailingSpace,
}

impl Spelling {
    /// The spellings and their weights: most inventory spells a name one way.
    pub const MIX: &'static [(Spelling, u32)] = &[
        (Spelling::AsIs, 90),
        (Spelling::Upper, 4),
        (Spelling::Lower, 3),
        (Spelling::TrailingSpace, 3),
    ];

    pub fn spell(self, name: &str) -> String {
        match self {
            Spelling::AsIs => name.to_string(),
            Spelling::Upper => name.to_ascii_uppercase(),
            Spelling::Lower => name.to_ascii_lowercase(),
            Spelling::TrailingSpace => format!("{name} "),
        }
    }
}

impl Client {
    /// The values that identify a person or machine; none may leave at Basic or Enhanced.
    pub fn personal_values(&self) -> [&str; 5] {
        [
            &self.netbios_name,
            &self.user_name,
            &self.ip_address,
            &self.mac_address,
            &self.email,
        ]
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    pub ci_id: i64,
    pub title: String,
    pub manufacturer: String,
    pub superseded_by: Option<i64>,
    pub deployment_types: Vec<DeploymentType>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentType {
    pub ci_id: i64,
    pub technology: &'static str,
    /// MSI deployment types install a product code (a GUID).
    pub product_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppDeployment {
    pub deployment_id: i64,
    pub app_ci_id: i64,
    pub collection_id: String,
    /// `install` or `uninstall`.
    pub action: &'static str,
    /// `required` or `available`.
    pub purpose: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UpdateGroup {
    pub group_id: i64,
    pub name: String,
    pub members: Vec<i64>,
    /// Collections the group is deployed to.
    pub deployed_to: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BoundaryGroup {
    pub group_id: i64,
    /// Names a place of the customer's: identifying.
    pub name: String,
    pub site_systems: u32,
    pub boundaries: Vec<Boundary>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Boundary {
    pub boundary_id: i64,
    pub boundary_type: &'static str,
    /// A subnet, address range or AD site of the customer's network: identifying.
    pub value: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Collection {
    pub collection_id: String,
    pub name: String,
    /// 1 = user collection, 2 = device collection.
    pub collection_type: u8,
    pub member_count: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SoftwareUpdate {
    pub ci_id: i64,
    pub article_id: String,
    pub severity: u8,
    pub is_expired: bool,
}

/// One client's state for one update: 1 not required, 2 required, 3 installed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Compliance {
    pub item_key: i64,
    pub update_ci_id: i64,
    pub status: u8,
    /// The last install error of a required update.
    pub error_code: Option<i64>,
}

/// A table the customer added to their site database.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomTable {
    pub name: String,
    pub rows: Vec<(i64, String)>,
}
