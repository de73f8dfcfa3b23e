//! The demo shop's data, generated deterministically: the same options always give the same
//! shop, so READMEs, tests and evals can name its customers and orders.
//!
//! The first customer is a fixed persona (Ada Lovelace) with one order in each interesting
//! status, for demos and documentation.

use crate::model::{
    round_cents, Address, Fulfillment, Name, Order, OrderItem, OrderStatus, PaymentMethod,
    PaymentSource, Product, Subscription, SubscriptionStatus, Transaction, TransactionType, User,
    Variant,
};
use crate::ShopData;
use chrono::{Duration, NaiveDate};
use std::collections::BTreeMap;

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct SeedOptions {
    /// PRNG seed.
    pub seed: u64,
    /// Number of customers (the persona included).
    pub customers: usize,
    /// Number of orders (the persona's included).
    pub orders: usize,
    /// "Today" for the generated dates: orders are placed in the 60 days before it.
    pub today: NaiveDate,
}

impl SeedOptions {
    /// The demo shop as of `today`: 120 customers, 300 orders.
    pub fn demo(today: NaiveDate) -> Self {
        Self {
            seed: 0x5EED_F00D,
            customers: 120,
            orders: 300,
            today,
        }
    }
}

/// SplitMix64: tiny, fast and stable across crate versions (unlike `rand`'s generators).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn digits(&mut self, n: usize) -> String {
        let first = 1 + self.below(9);
        let rest: String = (1..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect();
        format!("{first}{rest}")
    }
}

const FIRST: [&str; 24] = [
    "Noah", "Emma", "Liam", "Olivia", "Mason", "Sophia", "Lucas", "Mia", "Ethan", "Amelia",
    "Yusuf", "Aisha", "Mei", "Raj", "Sofia", "Mateo", "Chloe", "Omar", "Lena", "Ivan", "Fatima",
    "Hiro", "Zara", "Diego",
];
const LAST: [&str; 20] = [
    "Brown", "Smith", "Garcia", "Kim", "Nguyen", "Patel", "Rossi", "Silva", "Martin", "Lopez",
    "Khan", "Moore", "Ito", "Novak", "Haddad", "Muller", "Dubois", "Santos", "Okafor", "Larsen",
];
const STREETS: [&str; 10] = [
    "Sunset Drive",
    "River Road",
    "Cedar Street",
    "Elm Avenue",
    "Highland Drive",
    "Maple Lane",
    "Oak Street",
    "Park Avenue",
    "Lakeview Road",
    "Hillcrest Way",
];
const CITIES: [(&str, &str, &str); 8] = [
    ("Denver", "CO", "802"),
    ("New York", "NY", "100"),
    ("San Antonio", "TX", "782"),
    ("Seattle", "WA", "981"),
    ("Chicago", "IL", "606"),
    ("Philadelphia", "PA", "191"),
    ("Houston", "TX", "770"),
    ("San Francisco", "CA", "941"),
];
const AREA_CODES: [&str; 8] = ["303", "212", "210", "206", "312", "215", "713", "415"];
/// How many customers get a distinct fictional phone number: the cycle of (area code, number).
const UNIQUE_PHONES: usize = 200;

/// (product name, base price, option axes)
type Catalog = [(
    &'static str,
    f64,
    &'static [(&'static str, &'static [&'static str])],
)];
const CATALOG: &Catalog = &[
    (
        "T-Shirt",
        49.0,
        &[
            ("color", &["blue", "red", "black", "white"]),
            ("size", &["S", "M", "L", "XL"]),
        ],
    ),
    (
        "Running Shoes",
        129.0,
        &[
            ("size", &["8", "9", "10", "11"]),
            ("color", &["black", "white", "blue"]),
        ],
    ),
    (
        "Water Bottle",
        24.0,
        &[
            ("capacity", &["500ml", "750ml", "1000ml"]),
            ("color", &["blue", "green", "steel"]),
        ],
    ),
    (
        "Wireless Headphones",
        199.0,
        &[
            ("color", &["black", "silver"]),
            ("type", &["over-ear", "in-ear"]),
        ],
    ),
    (
        "Backpack",
        89.0,
        &[
            ("color", &["navy", "grey", "olive"]),
            ("size", &["small", "large"]),
        ],
    ),
    (
        "Coffee Maker",
        149.0,
        &[
            ("color", &["black", "steel"]),
            ("capacity", &["4 cups", "8 cups", "12 cups"]),
        ],
    ),
    (
        "Desk Lamp",
        59.0,
        &[
            ("color", &["white", "black"]),
            ("brightness", &["low", "medium", "high"]),
        ],
    ),
    (
        "Yoga Mat",
        39.0,
        &[
            ("thickness", &["4mm", "6mm"]),
            ("color", &["purple", "teal", "black"]),
        ],
    ),
    (
        "Smart Watch",
        299.0,
        &[
            ("color", &["black", "gold", "silver"]),
            ("band", &["silicone", "leather"]),
        ],
    ),
    (
        "Bluetooth Speaker",
        79.0,
        &[
            ("color", &["red", "blue", "black"]),
            ("battery", &["10h", "20h"]),
        ],
    ),
    (
        "Office Chair",
        349.0,
        &[
            ("material", &["mesh", "fabric", "leather"]),
            ("armrest", &["fixed", "adjustable"]),
        ],
    ),
    (
        "Electric Kettle",
        45.0,
        &[
            ("capacity", &["1L", "1.5L", "2L"]),
            ("material", &["plastic", "glass", "steel"]),
        ],
    ),
];

const PLANS: [(&str, f64, u32); 4] = [
    ("Coffee Beans - monthly", 18.0, 1),
    ("Water Filter Cartridges - every 3 months", 29.0, 3),
    ("Running Socks Club - monthly", 12.0, 1),
    ("Premium Membership - yearly", 99.0, 12),
];

fn products(rng: &mut Rng) -> BTreeMap<String, Product> {
    let mut out = BTreeMap::new();
    for (name, base, axes) in CATALOG {
        let product_id = rng.digits(10);
        let mut variants = BTreeMap::new();
        let (a_name, a_values) = axes[0];
        let (b_name, b_values) = axes[1];
        for a in a_values.iter() {
            for b in b_values.iter() {
                let item_id = rng.digits(10);
                let jitter = (rng.below(2000) as f64 - 1000.0) / 100.0;
                variants.insert(
                    item_id.clone(),
                    Variant {
                        item_id,
                        options: BTreeMap::from([
                            (a_name.to_string(), a.to_string()),
                            (b_name.to_string(), b.to_string()),
                        ]),
                        available: rng.chance(85),
                        price: round_cents(base + jitter),
                    },
                );
            }
        }
        out.insert(
            product_id.clone(),
            Product {
                name: name.to_string(),
                product_id,
                variants,
            },
        );
    }
    out
}

fn address(rng: &mut Rng) -> Address {
    let (city, state, zip3) = *rng.pick(&CITIES);
    Address {
        address1: format!("{} {}", 10 + rng.below(990), rng.pick(&STREETS)),
        address2: if rng.chance(40) {
            format!("Suite {}", 100 + rng.below(900))
        } else {
            String::new()
        },
        city: city.into(),
        country: "USA".into(),
        state: state.into(),
        zip: format!("{zip3}{:02}", rng.below(100)),
    }
}

fn payment_methods(rng: &mut Rng) -> BTreeMap<String, PaymentMethod> {
    let mut methods = BTreeMap::new();
    let count = 1 + rng.below(3);
    for _ in 0..count {
        let source = *rng.pick(&[
            PaymentSource::CreditCard,
            PaymentSource::GiftCard,
            PaymentSource::Paypal,
        ]);
        let (prefix, method) = match source {
            PaymentSource::CreditCard => (
                "credit_card",
                PaymentMethod {
                    id: String::new(),
                    source,
                    brand: Some(rng.pick(&["visa", "mastercard", "amex"]).to_string()),
                    last_four: Some(format!("{:04}", rng.below(10_000))),
                    balance: None,
                },
            ),
            PaymentSource::GiftCard => (
                "gift_card",
                PaymentMethod {
                    id: String::new(),
                    source,
                    brand: None,
                    last_four: None,
                    balance: Some((rng.below(300) as f64).max(10.0)),
                },
            ),
            PaymentSource::Paypal => (
                "paypal",
                PaymentMethod {
                    id: String::new(),
                    source,
                    brand: None,
                    last_four: None,
                    balance: None,
                },
            ),
        };
        let id = format!("{prefix}_{}", rng.digits(7));
        methods.insert(id.clone(), PaymentMethod { id, ..method });
    }
    methods
}

fn make_order(
    rng: &mut Rng,
    order_id: String,
    user: &User,
    products: &BTreeMap<String, Product>,
    status: OrderStatus,
    placed_on: NaiveDate,
) -> Order {
    let product_list: Vec<&Product> = products.values().collect();
    let count = 1 + rng.below(4);
    let items: Vec<OrderItem> = (0..count)
        .map(|_| {
            let product = *rng.pick(&product_list);
            let variants: Vec<&Variant> = product.variants.values().collect();
            let v = *rng.pick(&variants);
            OrderItem {
                name: product.name.clone(),
                product_id: product.product_id.clone(),
                item_id: v.item_id.clone(),
                price: v.price,
                options: v.options.clone(),
            }
        })
        .collect();
    let total = round_cents(items.iter().map(|i| i.price).sum());
    let methods: Vec<&String> = user.payment_methods.keys().collect();
    let payment_method_id = (*rng.pick(&methods)).clone();
    let mut payment_history = vec![Transaction {
        transaction_type: TransactionType::Payment,
        amount: total,
        payment_method_id: payment_method_id.clone(),
    }];
    let shipped = matches!(status, OrderStatus::Processed | OrderStatus::Delivered);
    let fulfillments = if shipped {
        vec![Fulfillment {
            tracking_id: vec![rng.digits(12)],
            item_ids: items.iter().map(|i| i.item_id.clone()).collect(),
        }]
    } else {
        vec![]
    };
    let mut cancel_reason = None;
    if status == OrderStatus::Cancelled {
        payment_history.push(Transaction {
            transaction_type: TransactionType::Refund,
            amount: total,
            payment_method_id,
        });
        cancel_reason = Some(rng.pick(&crate::rules::CANCEL_REASONS).to_string());
    }
    Order {
        order_id,
        user_id: user.user_id.clone(),
        address: user.address.clone(),
        items,
        status,
        fulfillments,
        payment_history,
        placed_on: Some(placed_on),
        delivered_on: (status == OrderStatus::Delivered)
            .then(|| placed_on + Duration::days(3 + rng.below(5) as i64)),
        cancel_reason,
        return_items: None,
        return_payment_method_id: None,
        exchange_items: None,
        exchange_new_items: None,
        exchange_payment_method_id: None,
        exchange_price_difference: None,
    }
}

/// Generate the demo shop.
pub fn generate(options: &SeedOptions) -> ShopData {
    let mut rng = Rng(options.seed);
    let products = products(&mut rng);
    let today = options.today;

    let mut users: BTreeMap<String, User> = BTreeMap::new();
    let mut user_ids = Vec::new();
    for n in 0..options.customers.max(1) {
        let (first, last) = if n == 0 {
            ("Ada", "Lovelace")
        } else {
            (*rng.pick(&FIRST), *rng.pick(&LAST))
        };
        let number = 1000 + n;
        let user_id = format!("{}_{}_{number}", first.to_lowercase(), last.to_lowercase());
        let mut methods = payment_methods(&mut rng);
        if n == 0 {
            // The persona always has a card and a gift card, so every refund path can be shown.
            methods = BTreeMap::from([
                (
                    "credit_card_1000001".to_string(),
                    PaymentMethod {
                        id: "credit_card_1000001".into(),
                        source: PaymentSource::CreditCard,
                        brand: Some("visa".into()),
                        last_four: Some("4242".into()),
                        balance: None,
                    },
                ),
                (
                    "gift_card_1000002".to_string(),
                    PaymentMethod {
                        id: "gift_card_1000002".into(),
                        source: PaymentSource::GiftCard,
                        brand: None,
                        last_four: None,
                        balance: Some(120.0),
                    },
                ),
            ]);
        }
        let user = User {
            user_id: user_id.clone(),
            name: Name {
                first_name: first.into(),
                last_name: last.into(),
            },
            address: address(&mut rng),
            email: format!(
                "{}.{}{number}@example.com",
                first.to_lowercase(),
                last.to_lowercase()
            ),
            // 555-01xx numbers are reserved for fiction. The (area code, number) pairs repeat
            // after 200 customers, and two accounts must never share a phone (the phone would
            // tie them into one customer), so customers past the 200th have none.
            phone: (n < UNIQUE_PHONES)
                .then(|| format!("+1{}55501{:02}", AREA_CODES[n % AREA_CODES.len()], n % 100)),
            vip: n % 17 == 5,
            payment_methods: methods,
            orders: vec![],
        };
        user_ids.push(user_id.clone());
        users.insert(user_id, user);
    }

    let mut orders: BTreeMap<String, Order> = BTreeMap::new();
    let persona_orders = [
        ("#W0000001", OrderStatus::Pending, 2),
        ("#W0000002", OrderStatus::Delivered, 12),
        ("#W0000003", OrderStatus::Processed, 4),
        ("#W0000004", OrderStatus::Delivered, 50),
    ];
    fn add(order: Order, users: &mut BTreeMap<String, User>, orders: &mut BTreeMap<String, Order>) {
        users
            .get_mut(&order.user_id)
            .expect("user exists")
            .orders
            .push(order.order_id.clone());
        orders.insert(order.order_id.clone(), order);
    }
    for (id, status, days_ago) in persona_orders {
        let ada = users[&user_ids[0]].clone();
        let order = make_order(
            &mut rng,
            id.into(),
            &ada,
            &products,
            status,
            today - Duration::days(days_ago),
        );
        add(order, &mut users, &mut orders);
    }
    let statuses = [
        (OrderStatus::Pending, 30),
        (OrderStatus::Processed, 15),
        (OrderStatus::Delivered, 45),
        (OrderStatus::Cancelled, 10),
    ];
    let mut made = persona_orders.len();
    while made < options.orders {
        // The persona's orders stay exactly the documented four.
        let user = users[rng.pick(&user_ids[1..])].clone();
        let roll = rng.below(100);
        let mut acc = 0;
        let status = statuses
            .iter()
            .find(|(_, p)| {
                acc += p;
                roll < acc
            })
            .map(|(s, _)| *s)
            .unwrap_or(OrderStatus::Delivered);
        let days_ago = match status {
            OrderStatus::Pending => rng.below(3),
            OrderStatus::Processed => 2 + rng.below(4),
            _ => 5 + rng.below(55),
        } as i64;
        let id = format!("#W{}", rng.digits(7));
        if orders.contains_key(&id) {
            continue;
        }
        let order = make_order(
            &mut rng,
            id,
            &user,
            &products,
            status,
            today - Duration::days(days_ago),
        );
        add(order, &mut users, &mut orders);
        made += 1;
    }
    for user in users.values_mut() {
        user.orders.sort_by_key(|id| orders[id].placed_on);
    }

    let mut subscriptions = BTreeMap::new();
    for (n, user_id) in user_ids.iter().enumerate().filter(|(n, _)| n % 3 == 0) {
        let (plan, price, every_months) = PLANS[n % PLANS.len()];
        let user = &users[user_id];
        let subscription_id = format!("SUB-{}", 1000 + n);
        subscriptions.insert(
            subscription_id.clone(),
            Subscription {
                subscription_id,
                user_id: user_id.clone(),
                plan: plan.into(),
                price,
                every_months,
                status: if n % 9 == 6 {
                    SubscriptionStatus::Paused
                } else {
                    SubscriptionStatus::Active
                },
                next_renewal_on: today + Duration::days(1 + (n % 28) as i64),
                payment_method_id: user
                    .payment_methods
                    .keys()
                    .next()
                    .expect("a method")
                    .clone(),
                cancel_reason: None,
            },
        );
    }

    ShopData {
        users,
        products,
        orders,
        subscriptions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_options_give_the_same_shop() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let a = generate(&SeedOptions::demo(today));
        assert_eq!(a, generate(&SeedOptions::demo(today)));
        assert_eq!(a.users.len(), 120);
        assert_eq!(a.orders.len(), 300);
        assert_eq!(a.products.len(), 12);
        assert!(a.subscriptions.len() >= 30);
        let other = generate(&SeedOptions {
            seed: 7,
            ..SeedOptions::demo(today)
        });
        assert_ne!(
            a.orders.keys().collect::<Vec<_>>(),
            other.orders.keys().collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_persona_has_one_order_in_each_interesting_status() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let shop = generate(&SeedOptions::demo(today));
        let ada = &shop.users["ada_lovelace_1000"];
        assert_eq!(ada.email, "ada.lovelace1000@example.com");
        assert_eq!(ada.phone.as_deref(), Some("+13035550100"));
        let statuses: Vec<_> = ["#W0000001", "#W0000002", "#W0000003", "#W0000004"]
            .iter()
            .map(|id| shop.orders[*id].status)
            .collect();
        assert_eq!(
            statuses,
            [
                OrderStatus::Pending,
                OrderStatus::Delivered,
                OrderStatus::Processed,
                OrderStatus::Delivered
            ]
        );
        assert_eq!(
            shop.orders["#W0000002"].placed_on,
            Some(today - Duration::days(12))
        );
        let big = generate(&SeedOptions {
            customers: 1_000,
            ..SeedOptions::demo(today)
        });
        let phones: Vec<&String> = big
            .users
            .values()
            .filter_map(|u| u.phone.as_ref())
            .collect();
        let distinct: std::collections::BTreeSet<&&String> = phones.iter().collect();
        assert_eq!(
            phones.len(),
            distinct.len(),
            "no two accounts share a phone"
        );
        assert_eq!(phones.len(), 200);
        for order in shop.orders.values() {
            assert!(!order.items.is_empty());
            assert!(shop.users[&order.user_id].orders.contains(&order.order_id));
            assert!(shop.users[&order.user_id]
                .payment_methods
                .contains_key(&order.payment_history[0].payment_method_id));
            assert_eq!(order.payment_history[0].amount, order.total());
        }
    }
}
