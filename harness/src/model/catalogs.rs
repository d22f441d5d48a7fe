//! The realistic mixes the generator draws from, with their weights: operating system images,
//! client agent versions, processors, deployment technologies.

/// Operating system images clients run; the generator draws from these with their weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsImage {
    pub caption: &'static str,
    pub version: &'static str,
    pub build: u32,
    /// Windows 10/11 have a servicing branch; servers do not.
    pub has_branch: bool,
    pub weight: u32,
}

pub const OS_IMAGES: &[OsImage] = &[
    OsImage {
        caption: "Microsoft Windows 10 Enterprise",
        version: "10.0.19044",
        build: 19044,
        has_branch: true,
        weight: 10,
    },
    OsImage {
        caption: "Microsoft Windows 10 Enterprise",
        version: "10.0.19045",
        build: 19045,
        has_branch: true,
        weight: 35,
    },
    OsImage {
        caption: "Microsoft Windows 10 Pro",
        version: "10.0.19045",
        build: 19045,
        has_branch: true,
        weight: 8,
    },
    OsImage {
        caption: "Microsoft Windows 10 Enterprise LTSC",
        version: "10.0.17763",
        build: 17763,
        has_branch: true,
        weight: 4,
    },
    OsImage {
        caption: "Microsoft Windows 11 Enterprise",
        version: "10.0.22631",
        build: 22631,
        has_branch: true,
        weight: 25,
    },
    OsImage {
        caption: "Microsoft Windows 11 Enterprise",
        version: "10.0.26100",
        build: 26100,
        has_branch: true,
        weight: 8,
    },
    OsImage {
        caption: "Microsoft Windows Server 2019 Standard",
        version: "10.0.17763",
        build: 17763,
        has_branch: false,
        weight: 4,
    },
    OsImage {
        caption: "Microsoft Windows Server 2022 Datacenter",
        version: "10.0.20348",
        build: 20348,
        has_branch: false,
        weight: 6,
    },
];

/// Client agent versions and their weights.
pub const CLIENT_VERSIONS: &[(&str, u32)] = &[
    ("5.00.9106.1000", 5),
    ("5.00.9122.1000", 20),
    ("5.00.9128.1000", 45),
    ("5.00.9132.1000", 30),
];

pub const CPUS: &[(&str, u32)] = &[
    ("Intel(R) Core(TM) i5-8365U CPU @ 1.60GHz", 12),
    ("Intel(R) Core(TM) i7-10610U CPU @ 1.80GHz", 14),
    ("Intel(R) Core(TM) i5-1145G7 @ 2.60GHz", 16),
    ("Intel(R) Core(TM) i7-1265U", 15),
    ("AMD Ryzen 7 PRO 5850U with Radeon Graphics", 10),
    ("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", 5),
    ("Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz", 4),
    ("13th Gen Intel(R) Core(TM) i7-1365U", 14),
    ("AMD EPYC 7763 64-Core Processor", 3),
    ("Intel(R) Core(TM) Ultra 7 165U", 7),
];

/// Application deployment technologies, as the product names them.
pub const TECHNOLOGIES: &[(&str, u32)] = &[
    ("MSI", 40),
    ("Script", 30),
    ("AppV5", 8),
    ("MSIX", 12),
    ("WinGet", 10),
];
