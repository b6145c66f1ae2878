//! Vocabulary for realistic-looking generated values.

pub(crate) const FIRST_NAMES: &[&str] = &[
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Amelia",
    "Oliver",
    "Sophia",
    "Elijah",
    "Mia",
    "Lucas",
    "Charlotte",
    "Mateo",
    "Ava",
    "Levi",
    "Isabella",
    "Hiroshi",
    "Yuki",
    "Priya",
    "Arjun",
    "Fatima",
    "Omar",
    "Chloé",
    "Léa",
    "Jürgen",
    "Anja",
    "Søren",
    "Ingrid",
    "Marta",
    "Pablo",
    "Lucía",
    "Wei",
    "Mei",
    "Kwame",
    "Amara",
    "Zoë",
    "Björn",
    "Aoife",
    "Seán",
    "Nadia",
    "Dmitri",
];

pub(crate) const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Dubois",
    "Lefèvre",
    "Rossi",
    "Russo",
    "Tanaka",
    "Suzuki",
    "Sato",
    "Patel",
    "Sharma",
    "Khan",
    "Nguyen",
    "Kim",
    "Park",
    "O'Brien",
    "Murphy",
    "Kowalski",
    "Nowak",
    "Andersson",
    "Johansson",
    "Hansen",
    "Silva",
    "Santos",
    "Okafor",
    "Mensah",
    "Cohen",
    "Levi",
];

pub(crate) const EMAIL_DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "mail.example.com",
    "shopper.example",
];

pub(crate) const STREETS: &[&str] = &[
    "Main St",
    "Oak Avenue",
    "Maple Drive",
    "Cedar Lane",
    "Elm Street",
    "Hauptstraße",
    "Bahnhofstraße",
    "Rue de la Paix",
    "Via Roma",
    "Calle Mayor",
    "High Street",
    "Station Road",
    "Park Lane",
    "Church Road",
    "Mill Lane",
    "Sunset Blvd",
    "Lakeview Terrace",
    "Kingsway",
];

/// (city, region, postal code pattern, country): `#` in the pattern is a digit.
pub(crate) const CITIES: &[(&str, Option<&str>, &str, &str)] = &[
    ("Springfield", Some("IL"), "627##", "US"),
    ("Austin", Some("TX"), "787##", "US"),
    ("Portland", Some("OR"), "972##", "US"),
    ("Brooklyn", Some("NY"), "112##", "US"),
    ("Toronto", Some("ON"), "M5V #A#", "CA"),
    ("Berlin", None, "10###", "DE"),
    ("München", Some("Bayern"), "80###", "DE"),
    ("Hamburg", None, "20###", "DE"),
    ("Paris", None, "750##", "FR"),
    ("Lyon", None, "6900#", "FR"),
    ("Milano", Some("MI"), "201##", "IT"),
    ("Madrid", None, "280##", "ES"),
    ("London", None, "EC1A #BB", "GB"),
    ("Manchester", None, "M# #AB", "GB"),
    ("Dublin", None, "D0#", "IE"),
    ("Amsterdam", None, "10## AB", "NL"),
    ("København", None, "1###", "DK"),
    ("Stockholm", None, "11# ##", "SE"),
    ("Tokyo", Some("Tokyo"), "100-####", "JP"),
    ("Sydney", Some("NSW"), "2###", "AU"),
];

pub(crate) const LINE2: &[&str] = &[
    "Apt 4B",
    "Suite 200",
    "2nd floor",
    "c/o Reception",
    "Unit 12",
];

pub(crate) const CUSTOMER_TAGS: &[&str] = &[
    "vip",
    "wholesale",
    "newsletter",
    "returning",
    "b2b",
    "influencer",
    "first-order",
];

pub(crate) const LOYALTY_TIERS: &[&str] = &["bronze", "silver", "gold", "platinum"];

pub(crate) const PRODUCT_ADJECTIVES: &[&str] = &[
    "Classic",
    "Organic",
    "Vintage",
    "Ergonomic",
    "Lightweight",
    "Handmade",
    "Premium",
    "Compact",
    "Rugged",
    "Minimalist",
    "Deluxe",
    "Eco",
];

pub(crate) const PRODUCT_MATERIALS: &[&str] = &[
    "Linen", "Cotton", "Leather", "Bamboo", "Steel", "Ceramic", "Wool", "Oak", "Glass", "Merino",
];

/// (category code, category, nouns)
pub(crate) const PRODUCT_LINES: &[(&str, &str, &[&str])] = &[
    (
        "APP",
        "apparel",
        &["Shirt", "Jacket", "Scarf", "Hoodie", "Socks"],
    ),
    (
        "HOM",
        "home",
        &["Mug", "Lamp", "Cushion", "Vase", "Blanket"],
    ),
    (
        "KIT",
        "kitchen",
        &["Knife", "Pan", "Cutting Board", "Teapot", "Bowl"],
    ),
    (
        "OUT",
        "outdoor",
        &["Backpack", "Tent", "Water Bottle", "Hammock", "Headlamp"],
    ),
    (
        "OFF",
        "office",
        &[
            "Notebook",
            "Desk Organizer",
            "Pen Set",
            "Monitor Stand",
            "Chair",
        ],
    ),
    (
        "TOY",
        "toys",
        &["Puzzle", "Kite", "Building Set", "Plush Bear", "Board Game"],
    ),
];

pub(crate) const DESCRIPTION_SENTENCES: &[&str] = &[
    "Designed to last for years of everyday use.",
    "Made in small batches by an independent workshop.",
    "Each piece is inspected by hand before it ships.",
    "Pairs well with the rest of the collection.",
    "Care: wipe clean with a damp cloth; do not bleach.",
    "Packaging is plastic-free and fully recyclable.",
    "Colours may vary slightly from the photos because of natural materials.",
    "Dimensions are approximate; see the size guide for details.",
    "Backed by a two-year warranty against manufacturing defects.",
    "Customers love it as a gift — add gift wrap at checkout.",
    "Limited run: once it is gone, it is gone.",
    "Tested for durability in real-world conditions, from rainy commutes to dusty trails.",
];

pub(crate) const CARRIERS: &[&str] = &["UPS", "DHL", "FedEx", "USPS", "DPD", "Royal Mail"];

pub(crate) const PAYMENT_METHODS: &[&str] = &["card", "paypal", "bank_transfer", "apple_pay"];

pub(crate) const CANCEL_REASONS: &[&str] = &[
    "customer_request",
    "payment_failed",
    "out_of_stock",
    "fraud_suspected",
];

pub(crate) const NOTES: &[&str] = &[
    "Customer asked to leave the parcel with a neighbour.",
    "Gift message: Happy birthday!",
    "Address confirmed by phone.",
    "Delivery rescheduled at customer's request.",
    "Package inspected; no damage found.",
    "Follow-up email sent about a delayed item.",
];

pub(crate) const NOTE_AUTHORS: &[&str] = &["support", "warehouse", "system", "customer"];

pub(crate) const ACCOUNT_NAMES: &[&str] = &[
    "Sandbox Outfitters",
    "Northwind Goods",
    "Blue Fern Supply Co.",
    "Acme Home & Garden",
];
