//! The shop's data model. Field names and shapes follow τ2-bench's retail database, so its
//! `db.json` loads as is; frontline's own additions (dates, phone, VIP, subscriptions) are
//! optional fields.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A person's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Name {
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
}

/// A postal address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Street and number.
    pub address1: String,
    /// Suite, apartment (may be empty).
    #[serde(default)]
    pub address2: String,
    /// City.
    pub city: String,
    /// Country.
    pub country: String,
    /// State or region.
    pub state: String,
    /// Postal code.
    pub zip: String,
}

/// The kind of a payment method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentSource {
    /// A credit card.
    CreditCard,
    /// A store gift card with a balance.
    GiftCard,
    /// A PayPal account.
    Paypal,
}

/// One of a customer's payment methods.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymentMethod {
    /// Its id, e.g. `credit_card_7815826`.
    pub id: String,
    /// Its kind.
    pub source: PaymentSource,
    /// Card brand (credit cards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    /// Last four digits (credit cards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_four: Option<String>,
    /// Remaining balance (gift cards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<f64>,
}

/// A shop customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Account id, e.g. `ada_lovelace_1000`.
    pub user_id: String,
    /// Name.
    pub name: Name,
    /// Default address.
    pub address: Address,
    /// Email address.
    pub email: String,
    /// Phone number in E.164, if on file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// VIP customers get priority routing on escalation.
    #[serde(default)]
    pub vip: bool,
    /// Payment methods by id.
    pub payment_methods: BTreeMap<String, PaymentMethod>,
    /// Order ids, oldest first.
    pub orders: Vec<String>,
}

/// One purchasable variant of a product.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    /// Item id (unrelated to the product id).
    pub item_id: String,
    /// Option values, e.g. `{"color": "blue", "size": "M"}`.
    pub options: BTreeMap<String, String>,
    /// Whether it can be ordered now.
    pub available: bool,
    /// Unit price.
    pub price: f64,
}

/// A product type with its variants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Product {
    /// Name, e.g. `T-Shirt`.
    pub name: String,
    /// Product id.
    pub product_id: String,
    /// Variants by item id.
    pub variants: BTreeMap<String, Variant>,
}

/// A line of an order (one unit).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderItem {
    /// Product name.
    pub name: String,
    /// Product id.
    pub product_id: String,
    /// Variant id.
    pub item_id: String,
    /// Price paid.
    pub price: f64,
    /// Variant options.
    pub options: BTreeMap<String, String>,
}

/// A shipment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fulfillment {
    /// Carrier tracking ids.
    pub tracking_id: Vec<String>,
    /// Items in it.
    pub item_ids: Vec<String>,
}

/// Payment or refund.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionType {
    /// Money in.
    Payment,
    /// Money back.
    Refund,
}

/// One money movement on an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    /// Payment or refund.
    pub transaction_type: TransactionType,
    /// Amount (always positive).
    pub amount: f64,
    /// The payment method used.
    pub payment_method_id: String,
}

/// Where an order is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Placed, not yet shipped: can be cancelled or modified.
    #[serde(rename = "pending")]
    Pending,
    /// Items modified once; no further changes.
    #[serde(rename = "pending (item modified)")]
    PendingItemModified,
    /// Shipped.
    #[serde(rename = "processed")]
    Processed,
    /// Delivered: can be returned or exchanged.
    #[serde(rename = "delivered")]
    Delivered,
    /// Cancelled and refunded.
    #[serde(rename = "cancelled")]
    Cancelled,
    /// Return requested.
    #[serde(rename = "return requested")]
    ReturnRequested,
    /// Exchange requested.
    #[serde(rename = "exchange requested")]
    ExchangeRequested,
}

impl OrderStatus {
    /// The status as customers read it.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::PendingItemModified => "pending (item modified)",
            OrderStatus::Processed => "processed",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::ReturnRequested => "return requested",
            OrderStatus::ExchangeRequested => "exchange requested",
        }
    }
}

/// An order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Order id, e.g. `#W1234567`.
    pub order_id: String,
    /// Who placed it.
    pub user_id: String,
    /// Shipping address.
    pub address: Address,
    /// Items, one entry per unit.
    pub items: Vec<OrderItem>,
    /// Status.
    pub status: OrderStatus,
    /// Shipments.
    pub fulfillments: Vec<Fulfillment>,
    /// Payments and refunds.
    pub payment_history: Vec<Transaction>,
    /// When it was placed (frontline addition; τ2 has no dates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed_on: Option<NaiveDate>,
    /// When it was delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_on: Option<NaiveDate>,
    /// Why it was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    /// Items being returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_items: Option<Vec<String>>,
    /// Where the return refund goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_payment_method_id: Option<String>,
    /// Items being exchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange_items: Option<Vec<String>>,
    /// Their replacements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange_new_items: Option<Vec<String>>,
    /// Who pays or receives the difference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange_payment_method_id: Option<String>,
    /// New minus old (positive: the customer pays).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange_price_difference: Option<f64>,
}

impl Order {
    /// What was paid net of refunds.
    pub fn net_paid(&self) -> f64 {
        round_cents(
            self.payment_history
                .iter()
                .fold(0.0, |sum, t| match t.transaction_type {
                    TransactionType::Payment => sum + t.amount,
                    TransactionType::Refund => sum - t.amount,
                }),
        )
    }

    /// The sum of item prices.
    pub fn total(&self) -> f64 {
        round_cents(self.items.iter().map(|i| i.price).sum())
    }
}

/// Whether a subscription renews.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// Renews on `next_renewal_on`.
    Active,
    /// Temporarily not renewing.
    Paused,
    /// Ended.
    Cancelled,
}

/// A recurring delivery (frontline addition).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// Id, e.g. `SUB-1042`.
    pub subscription_id: String,
    /// Subscriber.
    pub user_id: String,
    /// Plan name, e.g. `Coffee Beans — monthly`.
    pub plan: String,
    /// Price per period.
    pub price: f64,
    /// Months between deliveries.
    pub every_months: u32,
    /// Status.
    pub status: SubscriptionStatus,
    /// Next renewal.
    pub next_renewal_on: NaiveDate,
    /// Payment method charged.
    pub payment_method_id: String,
    /// Why it was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
}

/// Money is stored as τ2 stores it (decimal floats); every computed amount is rounded to cents.
pub fn round_cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
