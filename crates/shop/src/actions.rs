//! The shop's named actions: the [`ActionBackend`] the decision engine calls.
//!
//! Names and arguments follow τ2-bench's retail tools where they overlap, so its gold action
//! sequences can be compared with ours one to one. Arguments are parsed strictly (unknown or
//! missing fields are named in the error). Write actions run in one transaction with an audit
//! row keyed by the idempotency key: a repeated key returns the first outcome and changes nothing.

use crate::model::{Address, Order, Product, Subscription, User};
use crate::rules::{self, RuleError};
use crate::{decode_doc, put_order, put_subscription, put_user, Shop};
use async_trait::async_trait;
use frontline_domain::{
    ActionBackend, ActionCall, ActionError, ActionKind, ActionSpec, Identity, IdentityKind,
    NormalizeOptions,
};
use rusqlite::{Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use tracing::Instrument;

/// (name, kind, description, required arguments)
const CATALOG: &[(&str, ActionKind, &str, &[&str])] = &[
    (
        "find_user_id_by_email",
        ActionKind::Read,
        "Find a customer's user id by email.",
        &["email"],
    ),
    (
        "find_user_id_by_name_zip",
        ActionKind::Read,
        "Find a customer's user id by first name, last name and zip code.",
        &["first_name", "last_name", "zip"],
    ),
    (
        "find_user_id_by_phone",
        ActionKind::Read,
        "Find a customer's user id by phone number.",
        &["phone"],
    ),
    (
        "get_user_details",
        ActionKind::Read,
        "A customer's profile, addresses, payment methods and order ids.",
        &["user_id"],
    ),
    (
        "get_order_details",
        ActionKind::Read,
        "An order with items, status, fulfillments and payments.",
        &["order_id"],
    ),
    (
        "list_user_orders",
        ActionKind::Read,
        "A customer's orders, newest first, with status and total.",
        &["user_id"],
    ),
    (
        "get_product_details",
        ActionKind::Read,
        "A product with all its variants.",
        &["product_id"],
    ),
    (
        "get_item_details",
        ActionKind::Read,
        "One variant (item) and the product it belongs to.",
        &["item_id"],
    ),
    (
        "get_order_item_options",
        ActionKind::Read,
        "Every variant of the products in an order (for exchanges and item changes).",
        &["order_id"],
    ),
    (
        "list_all_product_types",
        ActionKind::Read,
        "Every product name with its product id.",
        &[],
    ),
    (
        "list_user_subscriptions",
        ActionKind::Read,
        "A customer's subscriptions.",
        &["user_id"],
    ),
    (
        "cancel_pending_order",
        ActionKind::Write,
        "Cancel a pending order and refund it.",
        &["order_id", "reason"],
    ),
    (
        "modify_pending_order_address",
        ActionKind::Write,
        "Change a pending order's shipping address.",
        &[
            "order_id", "address1", "address2", "city", "state", "country", "zip",
        ],
    ),
    (
        "modify_pending_order_items",
        ActionKind::Write,
        "Swap items of a pending order for other options of the same product (once).",
        &["order_id", "item_ids", "new_item_ids", "payment_method_id"],
    ),
    (
        "modify_pending_order_payment",
        ActionKind::Write,
        "Pay a pending order with another payment method.",
        &["order_id", "payment_method_id"],
    ),
    (
        "return_delivered_order_items",
        ActionKind::Write,
        "Request a return of delivered items.",
        &["order_id", "item_ids", "payment_method_id"],
    ),
    (
        "exchange_delivered_order_items",
        ActionKind::Write,
        "Request an exchange of delivered items for other options of the same product.",
        &["order_id", "item_ids", "new_item_ids", "payment_method_id"],
    ),
    (
        "modify_user_address",
        ActionKind::Write,
        "Change a customer's default address.",
        &[
            "user_id", "address1", "address2", "city", "state", "country", "zip",
        ],
    ),
    (
        "cancel_subscription",
        ActionKind::Write,
        "Cancel a subscription.",
        &["subscription_id", "reason"],
    ),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailArgs {
    email: String,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NameZipArgs {
    first_name: String,
    last_name: String,
    zip: String,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PhoneArgs {
    phone: String,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserArgs {
    user_id: String,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderArgs {
    order_id: String,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductArgs {
    product_id: String,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemArgs {
    item_id: String,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelOrderArgs {
    order_id: String,
    reason: String,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderAddressArgs {
    order_id: String,
    #[serde(flatten)]
    address: Address,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserAddressArgs {
    user_id: String,
    #[serde(flatten)]
    address: Address,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SwapItemsArgs {
    order_id: String,
    item_ids: Vec<String>,
    new_item_ids: Vec<String>,
    payment_method_id: String,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentArgs {
    order_id: String,
    payment_method_id: String,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReturnArgs {
    order_id: String,
    item_ids: Vec<String>,
    payment_method_id: String,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelSubscriptionArgs {
    subscription_id: String,
    reason: String,
}

fn parse<T: DeserializeOwned>(action: &str, args: &Value) -> Result<T, ActionError> {
    // `flatten` (addresses) and `deny_unknown_fields` do not combine in serde, so unknown
    // names are checked against the catalog's argument list first.
    if let (Some(obj), Some((_, _, _, known))) = (
        args.as_object(),
        CATALOG.iter().find(|(n, ..)| *n == action),
    ) {
        if let Some(extra) = obj.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(ActionError::InvalidArguments {
                action: action.into(),
                reason: format!(
                    "unknown argument `{extra}` (expected: {})",
                    known.join(", ")
                ),
            });
        }
    }
    serde_path_to_error::deserialize(args).map_err(|e| ActionError::InvalidArguments {
        action: action.into(),
        reason: if e.path().to_string() == "." {
            e.inner().to_string()
        } else {
            format!("`{}`: {}", e.path(), e.inner())
        },
    })
}

/// Order ids are written `#W1234567`; customers often drop the `#`.
fn normalize_order_id(raw: &str) -> String {
    let id = raw.trim();
    if id.starts_with('#') {
        id.to_string()
    } else {
        format!("#{id}")
    }
}

fn backend(e: impl std::fmt::Display) -> ActionError {
    ActionError::Backend {
        message: e.to_string(),
    }
}

fn rule_error(e: RuleError) -> ActionError {
    match e {
        RuleError::Refused(reason) => ActionError::Refused { reason },
        RuleError::NotFound(what) => ActionError::NotFound { what },
    }
}

fn load<T: DeserializeOwned>(
    conn: &Connection,
    table: &'static str,
    key_column: &str,
    key: &str,
    what: &str,
) -> Result<T, ActionError> {
    let raw: Option<String> = conn
        .prepare_cached(&format!("SELECT doc FROM {table} WHERE {key_column} = ?"))
        .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
        .map_err(backend)?;
    let raw = raw.ok_or_else(|| ActionError::NotFound {
        what: format!("{what} {key}"),
    })?;
    decode_doc(table, &raw).map_err(backend)
}

fn load_order(conn: &Connection, order_id: &str) -> Result<Order, ActionError> {
    load(
        conn,
        "shop_orders",
        "order_id",
        &normalize_order_id(order_id),
        "order",
    )
}

fn load_user(conn: &Connection, user_id: &str) -> Result<User, ActionError> {
    load(conn, "shop_users", "user_id", user_id.trim(), "user")
}

/// The products an order's items belong to.
fn products_of(conn: &Connection, order: &Order) -> Result<BTreeMap<String, Product>, ActionError> {
    let mut products = BTreeMap::new();
    for item in &order.items {
        if !products.contains_key(&item.product_id) {
            let p: Product = load(
                conn,
                "shop_products",
                "product_id",
                &item.product_id,
                "product",
            )?;
            products.insert(p.product_id.clone(), p);
        }
    }
    Ok(products)
}

fn find_user_id(
    conn: &Connection,
    sql: &str,
    binds: &[&str],
    what: String,
) -> Result<Value, ActionError> {
    let found: Option<String> = conn
        .prepare_cached(sql)
        .and_then(|mut s| {
            s.query_row(rusqlite::params_from_iter(binds), |r| r.get(0))
                .optional()
        })
        .map_err(backend)?;
    match found {
        Some(user_id) => Ok(Value::String(user_id)),
        None => Err(ActionError::NotFound { what }),
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("shop model serialises")
}

impl Shop {
    async fn read(&self, name: &str, args: &Value) -> Result<Value, ActionError> {
        let conn = self.connection().await;
        let conn = &*conn;
        match name {
            "find_user_id_by_email" => {
                let a: EmailArgs = parse(name, args)?;
                let email = a.email.trim().to_lowercase();
                find_user_id(
                    conn,
                    "SELECT user_id FROM shop_users WHERE email = ?",
                    &[&email],
                    format!("customer with email {email}"),
                )
            }
            "find_user_id_by_name_zip" => {
                let a: NameZipArgs = parse(name, args)?;
                let (first, last) = (
                    a.first_name.trim().to_lowercase(),
                    a.last_name.trim().to_lowercase(),
                );
                find_user_id(
                    conn,
                    "SELECT user_id FROM shop_users WHERE first_name = ? AND last_name = ? AND zip = ?",
                    &[&first, &last, a.zip.trim()],
                    format!("customer {} {} in zip {}", a.first_name, a.last_name, a.zip),
                )
            }
            "find_user_id_by_phone" => {
                let a: PhoneArgs = parse(name, args)?;
                let phone =
                    Identity::parse(IdentityKind::Phone, &a.phone, &NormalizeOptions::default())
                        .map_err(|e| ActionError::InvalidArguments {
                            action: name.into(),
                            reason: e.to_string(),
                        })?;
                find_user_id(
                    conn,
                    "SELECT user_id FROM shop_users WHERE phone = ?",
                    &[&phone.value],
                    format!("customer with phone {}", phone.value),
                )
            }
            "get_user_details" => {
                let a: UserArgs = parse(name, args)?;
                Ok(to_value(&load_user(conn, &a.user_id)?))
            }
            "get_order_details" => {
                let a: OrderArgs = parse(name, args)?;
                Ok(to_value(&load_order(conn, &a.order_id)?))
            }
            "list_user_orders" => {
                let a: UserArgs = parse(name, args)?;
                let user = load_user(conn, &a.user_id)?;
                let mut orders = Vec::new();
                for id in user.orders.iter().rev() {
                    let o = load_order(conn, id)?;
                    orders.push(json!({
                        "order_id": o.order_id,
                        "status": o.status,
                        "placed_on": o.placed_on,
                        "delivered_on": o.delivered_on,
                        "total": o.total(),
                        "items": item_names(&o.items),
                    }));
                }
                Ok(Value::Array(orders))
            }
            "get_product_details" => {
                let a: ProductArgs = parse(name, args)?;
                let p: Product = load(
                    conn,
                    "shop_products",
                    "product_id",
                    a.product_id.trim(),
                    "product",
                )?;
                Ok(to_value(&p))
            }
            "get_item_details" => {
                let a: ItemArgs = parse(name, args)?;
                let product_id: Option<String> = conn
                    .prepare_cached("SELECT product_id FROM shop_items WHERE item_id = ?")
                    .and_then(|mut s| s.query_row([a.item_id.trim()], |r| r.get(0)).optional())
                    .map_err(backend)?;
                let product_id = product_id.ok_or_else(|| ActionError::NotFound {
                    what: format!("item {}", a.item_id),
                })?;
                let p: Product = load(conn, "shop_products", "product_id", &product_id, "product")?;
                let v = &p.variants[a.item_id.trim()];
                Ok(
                    json!({"item_id": v.item_id, "product_id": p.product_id, "name": p.name, "options": v.options, "available": v.available, "price": v.price}),
                )
            }
            "get_order_item_options" => {
                let a: OrderArgs = parse(name, args)?;
                let order = load_order(conn, &a.order_id)?;
                let products = products_of(conn, &order)?;
                let variants: Vec<Value> = products
                    .values()
                    .flat_map(|p| {
                        p.variants.values().map(move |v| {
                            json!({"item_id": v.item_id, "product_id": p.product_id, "name": p.name, "options": v.options, "available": v.available, "price": v.price})
                        })
                    })
                    .collect();
                Ok(Value::Array(variants))
            }
            "list_all_product_types" => {
                let _: NoArgs = parse(name, args)?;
                let rows: Vec<(String, String)> = conn
                    .prepare_cached("SELECT name, product_id FROM shop_products ORDER BY name")
                    .and_then(|mut s| {
                        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                            .collect::<Result<_, _>>()
                    })
                    .map_err(backend)?;
                Ok(Value::Object(
                    rows.into_iter()
                        .map(|(n, id)| (n, Value::String(id)))
                        .collect(),
                ))
            }
            "list_user_subscriptions" => {
                let a: UserArgs = parse(name, args)?;
                let docs: Vec<String> = conn
                    .prepare_cached(
                        "SELECT doc FROM shop_subscriptions WHERE user_id = ? \
                         ORDER BY subscription_id",
                    )
                    .and_then(|mut s| {
                        s.query_map([a.user_id.trim()], |r| r.get(0))?
                            .collect::<Result<_, _>>()
                    })
                    .map_err(backend)?;
                let subs = docs
                    .iter()
                    .map(|d| {
                        decode_doc::<Subscription>("shop_subscriptions", d).map(|s| to_value(&s))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(backend)?;
                Ok(Value::Array(subs))
            }
            other => Err(ActionError::UnknownAction { name: other.into() }),
        }
    }

    /// Check the rules and apply one write inside the transaction on `conn`; nothing is
    /// written unless they pass.
    fn apply_write(
        &self,
        conn: &Connection,
        name: &str,
        args: &Value,
    ) -> Result<Value, ActionError> {
        let tx = conn;
        match name {
            "cancel_pending_order" => {
                let a: CancelOrderArgs = parse(name, args)?;
                let mut order = load_order(conn, &a.order_id)?;
                let mut user = load_user(conn, &order.user_id)?;
                rules::cancel_pending_order(&mut order, &mut user, a.reason.trim())
                    .map_err(rule_error)?;
                put_order(tx, &order).map_err(backend)?;
                put_user(tx, &user).map_err(backend)?;
                Ok(to_value(&order))
            }
            "modify_pending_order_address" => {
                let a: OrderAddressArgs = parse(name, args)?;
                let mut order = load_order(conn, &a.order_id)?;
                rules::modify_pending_order_address(&mut order, a.address).map_err(rule_error)?;
                put_order(tx, &order).map_err(backend)?;
                Ok(to_value(&order))
            }
            "modify_pending_order_items" | "exchange_delivered_order_items" => {
                let a: SwapItemsArgs = parse(name, args)?;
                let mut order = load_order(conn, &a.order_id)?;
                let mut user = load_user(conn, &order.user_id)?;
                let products = products_of(conn, &order)?;
                if name == "modify_pending_order_items" {
                    rules::modify_pending_order_items(
                        &mut order,
                        &mut user,
                        &products,
                        &a.item_ids,
                        &a.new_item_ids,
                        &a.payment_method_id,
                    )
                } else {
                    rules::exchange_delivered_order_items(
                        &mut order,
                        &user,
                        &products,
                        &a.item_ids,
                        &a.new_item_ids,
                        &a.payment_method_id,
                    )
                }
                .map_err(rule_error)?;
                put_order(tx, &order).map_err(backend)?;
                put_user(tx, &user).map_err(backend)?;
                Ok(to_value(&order))
            }
            "modify_pending_order_payment" => {
                let a: PaymentArgs = parse(name, args)?;
                let mut order = load_order(conn, &a.order_id)?;
                let mut user = load_user(conn, &order.user_id)?;
                rules::modify_pending_order_payment(&mut order, &mut user, &a.payment_method_id)
                    .map_err(rule_error)?;
                put_order(tx, &order).map_err(backend)?;
                put_user(tx, &user).map_err(backend)?;
                Ok(to_value(&order))
            }
            "return_delivered_order_items" => {
                let a: ReturnArgs = parse(name, args)?;
                let mut order = load_order(conn, &a.order_id)?;
                let user = load_user(conn, &order.user_id)?;
                rules::return_delivered_order_items(
                    &mut order,
                    &user,
                    &a.item_ids,
                    &a.payment_method_id,
                )
                .map_err(rule_error)?;
                put_order(tx, &order).map_err(backend)?;
                Ok(to_value(&order))
            }
            "modify_user_address" => {
                let a: UserAddressArgs = parse(name, args)?;
                let mut user = load_user(conn, &a.user_id)?;
                rules::modify_user_address(&mut user, a.address).map_err(rule_error)?;
                put_user(tx, &user).map_err(backend)?;
                Ok(to_value(&user))
            }
            "cancel_subscription" => {
                let a: CancelSubscriptionArgs = parse(name, args)?;
                let mut sub: Subscription = load(
                    conn,
                    "shop_subscriptions",
                    "subscription_id",
                    a.subscription_id.trim(),
                    "subscription",
                )?;
                rules::cancel_subscription(&mut sub, &a.reason).map_err(rule_error)?;
                put_subscription(tx, &sub).map_err(backend)?;
                Ok(to_value(&sub))
            }
            other => Err(ActionError::UnknownAction { name: other.into() }),
        }
    }

    async fn write(&self, call: &ActionCall) -> Result<Value, ActionError> {
        let key = call
            .idempotency_key
            .as_deref()
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| ActionError::MissingIdempotencyKey {
                action: call.name.clone(),
            })?;
        let mut conn = self.connection().await;
        let tx = conn.transaction().map_err(backend)?;
        let earlier: Option<(String, String, String)> = tx
            .prepare_cached(
                "SELECT action, args, outcome FROM shop_audit WHERE idempotency_key = ?",
            )
            .and_then(|mut s| {
                s.query_row([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()
            })
            .map_err(backend)?;
        if let Some((action, args, outcome)) = earlier {
            let same_args = serde_json::from_str::<Value>(&args).ok().as_ref() == Some(&call.args);
            if action != call.name || !same_args {
                return Err(ActionError::InvalidArguments {
                    action: call.name.clone(),
                    reason: format!(
                        "idempotency key `{key}` was already used for a different call ({action})"
                    ),
                });
            }
            tracing::info!(action = %call.name, key, "repeated write action: returning the first outcome");
            return serde_json::from_str::<Result<Value, ActionError>>(&outcome)
                .map_err(backend)?;
        }
        let outcome = self.apply_write(&tx, &call.name, &call.args);
        if let Err(ActionError::Backend { .. }) = outcome {
            // Transient: roll back and record nothing, so a retry with the same key runs again.
            tx.rollback().map_err(backend)?;
            return outcome;
        }
        tx.execute(
            "INSERT INTO shop_audit (idempotency_key, action, args, outcome, at) \
             VALUES (?, ?, ?, ?, ?)",
            rusqlite::params![
                key,
                call.name,
                call.args.to_string(),
                serde_json::to_string(&outcome).expect("outcome serialises"),
                chrono::Utc::now().timestamp_millis(),
            ],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        outcome
    }

    /// The audit trail of write actions, oldest first: (key, action, args, outcome).
    pub async fn audit_log(&self) -> Result<Vec<(String, String, Value, Value)>, crate::ShopError> {
        let rows: Vec<(String, String, String, String)> = self
            .connection()
            .await
            .prepare(
                "SELECT idempotency_key, action, args, outcome FROM shop_audit \
                 ORDER BY at, idempotency_key",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|(k, a, args, outcome)| {
                Ok((
                    k,
                    a,
                    decode_doc("shop_audit", &args)?,
                    decode_doc("shop_audit", &outcome)?,
                ))
            })
            .collect()
    }
}

/// The look-ups that disclose an account's data (profile, addresses, payment methods, orders,
/// subscriptions); with every write action, a flow reaches them only for a verified owner.
const DISCLOSING: &[&str] = &[
    "get_user_details",
    "get_order_details",
    "list_user_orders",
    "get_order_item_options",
    "list_user_subscriptions",
];

/// The shop's actions, without opening a shop (for checking flows against them).
pub fn catalog() -> Vec<ActionSpec> {
    CATALOG
        .iter()
        .map(|(name, kind, description, args)| ActionSpec {
            name: name.to_string(),
            kind: *kind,
            description: description.to_string(),
            required_args: args.iter().map(|a| a.to_string()).collect(),
            owner_only: *kind == ActionKind::Write || DISCLOSING.contains(name),
        })
        .collect()
}

/// The shop's customer records as a directory: an email address or phone number on an account
/// links to the account id and the account's other handles. Built on the shop's own look-up
/// actions.
#[async_trait]
impl frontline_domain::IdentityDirectory for Shop {
    async fn linked(&self, identity: &Identity) -> Result<Vec<Identity>, ActionError> {
        let lookup = |name: &str, arg: &str| ActionCall {
            name: name.to_string(),
            args: json!({ arg: identity.value }),
            idempotency_key: None,
        };
        let user_id = match identity.kind {
            IdentityKind::AccountId => identity.value.clone(),
            IdentityKind::Email | IdentityKind::Phone => {
                let call = if identity.kind == IdentityKind::Email {
                    lookup("find_user_id_by_email", "email")
                } else {
                    lookup("find_user_id_by_phone", "phone")
                };
                match self.execute(&call).await {
                    Ok(Value::String(id)) => id,
                    Ok(_) | Err(ActionError::NotFound { .. }) => return Ok(vec![]),
                    Err(e) => return Err(e),
                }
            }
            _ => return Ok(vec![]),
        };
        let details = match self
            .execute(&ActionCall {
                name: "get_user_details".into(),
                args: json!({ "user_id": user_id }),
                idempotency_key: None,
            })
            .await
        {
            Ok(details) => details,
            Err(ActionError::NotFound { .. }) => return Ok(vec![]),
            Err(e) => return Err(e),
        };
        let opts = NormalizeOptions::default();
        let mut linked = vec![Identity {
            kind: IdentityKind::AccountId,
            value: user_id,
        }];
        for (kind, field) in [
            (IdentityKind::Email, "email"),
            (IdentityKind::Phone, "phone"),
        ] {
            if let Some(raw) = details[field].as_str() {
                if let Ok(found) = Identity::parse(kind, raw, &opts) {
                    linked.push(found);
                }
            }
        }
        Ok(linked)
    }
}

#[async_trait]
impl ActionBackend for Shop {
    fn catalog(&self) -> Vec<ActionSpec> {
        catalog()
    }

    async fn execute(&self, call: &ActionCall) -> Result<Value, ActionError> {
        let kind = CATALOG
            .iter()
            .find(|(n, ..)| *n == call.name)
            .map(|(_, kind, ..)| *kind)
            .ok_or_else(|| ActionError::UnknownAction {
                name: call.name.clone(),
            })?;
        let span = tracing::info_span!("shop_action", action = %call.name);
        match kind {
            ActionKind::Read => self.read(&call.name, &call.args).instrument(span).await,
            ActionKind::Write => self.write(call).instrument(span).await,
        }
    }
}

/// An order's item names, each once, in order, with how many when more than one
/// ("Bluetooth Speaker ×2"): how customers recognise an order.
fn item_names(items: &[crate::model::OrderItem]) -> Vec<String> {
    let mut names: Vec<(String, usize)> = Vec::new();
    for item in items {
        match names.iter_mut().find(|(n, _)| *n == item.name) {
            Some((_, count)) => *count += 1,
            None => names.push((item.name.clone(), 1)),
        }
    }
    names
        .into_iter()
        .map(|(name, count)| match count {
            1 => name,
            n => format!("{name} ×{n}"),
        })
        .collect()
}
