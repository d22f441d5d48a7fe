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
    // The long tail: with these the catalog is wider than TEL_TopCPUs' 50, so its cut and its
    // tie-breaking run on large sites.
    ("Intel(R) Core(TM) i5-10310U CPU @ 1.70GHz", 1),
    ("Intel(R) Core(TM) i5-10210U CPU @ 1.60GHz", 1),
    ("Intel(R) Core(TM) i7-8665U CPU @ 1.90GHz", 1),
    ("Intel(R) Core(TM) i5-8350U CPU @ 1.70GHz", 1),
    ("Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz", 1),
    ("Intel(R) Core(TM) i5-1135G7 @ 2.40GHz", 1),
    ("Intel(R) Core(TM) i7-1185G7 @ 3.00GHz", 1),
    ("Intel(R) Core(TM) i5-1245U", 1),
    ("Intel(R) Core(TM) i5-1345U", 1),
    ("Intel(R) Core(TM) i7-1355U", 1),
    ("Intel(R) Core(TM) i5-12500", 1),
    ("Intel(R) Core(TM) i7-12700", 1),
    ("Intel(R) Core(TM) i5-13500", 1),
    ("Intel(R) Core(TM) i7-13700", 1),
    ("Intel(R) Core(TM) i5-10500 CPU @ 3.10GHz", 1),
    ("Intel(R) Core(TM) i7-10700 CPU @ 2.90GHz", 1),
    ("Intel(R) Core(TM) i5-9500 CPU @ 3.00GHz", 1),
    ("Intel(R) Core(TM) i7-9700 CPU @ 3.00GHz", 1),
    ("Intel(R) Core(TM) i5-8500 CPU @ 3.00GHz", 1),
    ("Intel(R) Core(TM) i3-10110U CPU @ 2.10GHz", 1),
    ("Intel(R) Core(TM) Ultra 5 125U", 1),
    ("Intel(R) Core(TM) Ultra 5 135U", 1),
    ("Intel(R) Core(TM) Ultra 7 155H", 1),
    ("Intel(R) Pentium(R) Silver N6000 @ 1.10GHz", 1),
    ("Intel(R) Celeron(R) N4120 CPU @ 1.10GHz", 1),
    ("Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz", 1),
    ("Intel(R) Xeon(R) CPU E5-2690 v3 @ 2.60GHz", 1),
    ("Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", 1),
    ("Intel(R) Xeon(R) Platinum 8272CL CPU @ 2.60GHz", 1),
    ("Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz", 1),
    ("Intel(R) Xeon(R) Silver 4310 CPU @ 2.10GHz", 1),
    ("Intel(R) Xeon(R) E-2236 CPU @ 3.40GHz", 1),
    ("AMD Ryzen 5 PRO 4650U with Radeon Graphics", 1),
    ("AMD Ryzen 5 PRO 5650U with Radeon Graphics", 1),
    ("AMD Ryzen 7 PRO 4750U with Radeon Graphics", 1),
    ("AMD Ryzen 7 PRO 6850U with Radeon Graphics", 1),
    ("AMD Ryzen 5 PRO 7530U with Radeon Graphics", 1),
    ("AMD Ryzen 7 PRO 7840U w/ Radeon 780M Graphics", 1),
    ("AMD Ryzen 5 PRO 5650G with Radeon Graphics", 1),
    ("AMD Ryzen 7 5800X 8-Core Processor", 1),
    ("AMD EPYC 7452 32-Core Processor", 1),
    ("AMD EPYC 7R32", 1),
    ("AMD EPYC 9654 96-Core Processor", 1),
    ("Microsoft SQ3 @ 3.0 GHz", 1),
    (
        "Snapdragon(R) X Elite - X1E78100 - Qualcomm(R) Oryon(TM) CPU",
        1,
    ),
];

/// Application deployment technologies, as the product names them.
pub const TECHNOLOGIES: &[(&str, u32)] = &[
    ("MSI", 40),
    ("Script", 30),
    ("AppV5", 8),
    ("MSIX", 12),
    ("WinGet", 10),
];
