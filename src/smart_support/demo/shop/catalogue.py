"""Static reference data the generator draws from: names, streets, cities, carriers, products."""

from __future__ import annotations

# fmt: off
FIRST = [
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Oliver", "Sophia", "Elijah", "Isabella", "James",
    "Mia", "William", "Amelia", "Lucas", "Harper", "Mateo", "Evelyn", "Henry", "Luna", "Theo",
    "Aria", "Leo", "Chloe", "Ethan", "Zoe", "Jack", "Nora", "Levi", "Hannah", "Samuel",
    "Leila", "Daniel", "Priya", "Arjun", "Mei", "Kenji", "Fatima", "Omar", "Sofia", "Diego",
    "Ingrid", "Lars", "Amara", "Kwame", "Chiara", "Luca", "Ana", "Tomas"
]
LAST = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker",
    "Young", "Allen", "King", "Wright", "Scott", "Nguyen", "Patel", "Kim", "Rossi", "Muller",
    "Schmidt", "Dubois", "Novak", "Silva", "Okafor", "Tanaka", "Larsen", "Jansen", "Kowalski"
]
STREETS = [
    "Maple Avenue", "Oak Street", "Elm Road", "Cedar Lane", "Harbor View", "Station Road",
    "Mill Lane", "Park Place", "Kingsway", "Lindenstrasse", "Rue des Lilas", "Canal Street",
    "Hillcrest Drive", "Willow Way", "Church Street",
]
CITIES = [  # city, postal code prefix, country
    ("Portland", "972", "US"),
    ("Austin", "787", "US"),
    ("Chicago", "606", "US"),
    ("Denver", "802", "US"),
    ("Boston", "021", "US"),
    ("Seattle", "981", "US"),
    ("Toronto", "M5V", "CA"),
    ("Manchester", "M1", "GB"),
    ("Berlin", "101", "DE"),
    ("Lyon", "690", "FR"),
    ("Utrecht", "351", "NL"),
]
CARRIERS = {  # name, transit days, tracking URL prefix
    "UPS": (3, "https://www.ups.com/track?tracknum="),
    "FedEx": (4, "https://www.fedex.com/fedextrack/?trknbr="),
    "DHL": (5, "https://www.dhl.com/track?tracking-id="),
    "USPS": (4, "https://tools.usps.com/go/TrackConfirmAction?tLabels="),
}
HUBS = ["Louisville, KY", "Memphis, TN", "Chicago, IL", "Leipzig, DE", "Newark, NJ", "Reno, NV"]
CATALOGUE = [  # name, category, base price (cents), variant axis, options, description
    ("Trailblazer Rain Jacket", "outerwear", 12900, "size", "S M L XL",
     "Waterproof breathable hiking jacket with hood."),
    ("Summit Down Parka", "outerwear", 24900, "size", "S M L XL",
     "Warm winter parka with 700-fill down."),
    ("Everyday Cotton T-Shirt", "tops", 2400, "colour", "white black navy heather",
     "Soft organic cotton crew-neck tee."),
    ("Merino Wool Sweater", "tops", 8900, "size", "S M L XL",
     "Fine-knit merino sweater, machine washable."),
    ("Classic Denim Jeans", "bottoms", 6900, "waist", "28 30 32 34 36",
     "Straight-fit jeans in stretch denim."),
    ("Stretch Chino Trousers", "bottoms", 5900, "waist", "30 32 34 36",
     "Slim chinos for work and weekend."),
    ("Cloudstep Running Shoes", "shoes", 11900, "size", "38 39 40 41 42 43 44",
     "Lightweight cushioned running shoes."),
    ("Leather Chelsea Boots", "shoes", 15900, "size", "39 40 41 42 43 44",
     "Full-grain leather boots with elastic sides."),
    ("Canvas Sneakers", "shoes", 4900, "colour", "white black red",
     "Low-top canvas sneakers with rubber sole."),
    ("Wool Hiking Socks", "accessories", 1900, "size", "S M L",
     "Cushioned merino socks, pack of three."),
    ("Waxed Canvas Backpack", "bags", 9900, "colour", "olive tan black",
     "20 L backpack with laptop sleeve."),
    ("Leather Weekender Bag", "bags", 21900, "colour", "brown black",
     "Carry-on duffel in vegetable-tanned leather."),
    ("Insulated Water Bottle", "outdoor", 3200, "colour", "steel sage coral",
     "Keeps drinks cold 24 h or hot 12 h. 750 ml."),
    ("Ultralight Tent 2P", "outdoor", 32900, "colour", "green orange",
     "Two-person backpacking tent, 1.4 kg."),
    ("Camping Headlamp", "outdoor", 3900, "colour", "black yellow",
     "Rechargeable 400-lumen headlamp."),
    ("Noise-Cancelling Headphones", "electronics", 19900, "colour", "black silver",
     "Wireless over-ear headphones, 30 h battery."),
    ("Smart Fitness Watch", "electronics", 22900, "band", "small large",
     "GPS watch with heart-rate and sleep tracking."),
    ("Portable Bluetooth Speaker", "electronics", 7900, "colour", "blue black red",
     "Waterproof speaker with 12 h playtime."),
    ("USB-C Charging Cable", "electronics", 1500, "colour", "black white",
     "Braided 2 m fast-charging cable."),
    ("Ceramic Pour-Over Coffee Set", "home", 5400, "colour", "white charcoal",
     "Dripper, carafe and two cups."),
    ("Linen Duvet Cover", "home", 13900, "size", "single double king",
     "Stone-washed French linen duvet cover."),
    ("Cast Iron Skillet", "home", 4500, "size", "20cm 26cm 30cm",
     "Pre-seasoned 26 cm skillet."),
    ("Yoga Mat", "fitness", 6500, "colour", "purple black teal",
     "Non-slip 5 mm natural rubber mat."),
    ("Adjustable Dumbbells", "fitness", 29900, "set", "pair",
     "Pair of dumbbells, 2-24 kg each."),
]
# fmt: on
