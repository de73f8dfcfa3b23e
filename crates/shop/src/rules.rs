//! The shop's business rules as pure functions over the model: every write action is checked
//! and applied here, with no IO, so the rules are tested without a database.
//!
//! They follow the τ2-bench retail policy (statuses that allow each change, refunds to the
//! original payment method or a gift card, gift-card balances, one modification per order).

use crate::model::{
    round_cents, Address, Order, OrderStatus, PaymentSource, Product, Subscription,
    SubscriptionStatus, Transaction, TransactionType, User,
};
use std::collections::BTreeMap;

/// Why a rule refused a change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The change is not allowed; the message can be told to the customer.
    #[error("{0}")]
    Refused(String),
    /// Something referred to does not exist.
    #[error("{0} not found")]
    NotFound(String),
}

type Rule<T = ()> = Result<T, RuleError>;

/// The reasons a pending order may be cancelled for.
pub const CANCEL_REASONS: [&str; 2] = ["no longer needed", "ordered by mistake"];

fn require_status(order: &Order, allowed: OrderStatus, what: &str) -> Rule {
    if order.status == allowed {
        Ok(())
    } else {
        Err(RuleError::Refused(format!(
            "order {} is {}; only {} orders can be {what}",
            order.order_id,
            order.status.as_str(),
            allowed.as_str()
        )))
    }
}

/// Address and payment changes are allowed on any pending order, also after its items were
/// modified (as in τ2's backend); item changes and cancellation need a plain `pending` order.
fn require_any_pending(order: &Order) -> Rule {
    match order.status {
        OrderStatus::Pending | OrderStatus::PendingItemModified => Ok(()),
        other => Err(RuleError::Refused(format!(
            "order {} is {}; only pending orders can be modified",
            order.order_id,
            other.as_str()
        ))),
    }
}

fn payment_method<'a>(user: &'a User, id: &str) -> Rule<&'a crate::model::PaymentMethod> {
    user.payment_methods
        .get(id)
        .ok_or_else(|| RuleError::NotFound(format!("payment method {id} of user {}", user.user_id)))
}

/// Check that every id is in the order, counting repeats (two units need two entries).
fn require_items(order: &Order, item_ids: &[String]) -> Rule {
    if item_ids.is_empty() {
        return Err(RuleError::Refused("no items were named".into()));
    }
    let mut wanted: BTreeMap<&str, usize> = BTreeMap::new();
    for id in item_ids {
        *wanted.entry(id).or_default() += 1;
    }
    for (id, count) in wanted {
        let have = order.items.iter().filter(|i| i.item_id == id).count();
        if have < count {
            return Err(RuleError::NotFound(format!(
                "item {id} (x{count}) in order {}",
                order.order_id
            )));
        }
    }
    Ok(())
}

/// Check replacements (same product, different option, available) and return new − old price.
fn price_difference(
    order: &Order,
    products: &BTreeMap<String, Product>,
    item_ids: &[String],
    new_item_ids: &[String],
) -> Rule<f64> {
    require_items(order, item_ids)?;
    if item_ids.len() != new_item_ids.len() {
        return Err(RuleError::Refused(format!(
            "{} items to change but {} replacements",
            item_ids.len(),
            new_item_ids.len()
        )));
    }
    let mut diff = 0.0;
    for (old_id, new_id) in item_ids.iter().zip(new_item_ids) {
        let old = order
            .items
            .iter()
            .find(|i| &i.item_id == old_id)
            .expect("checked by require_items");
        let product = products
            .get(&old.product_id)
            .ok_or_else(|| RuleError::NotFound(format!("product {}", old.product_id)))?;
        let Some(new) = product.variants.get(new_id) else {
            return Err(RuleError::Refused(format!(
                "item {new_id} is not a variant of {} (changes must stay within the same product)",
                product.name
            )));
        };
        if new_id == old_id {
            return Err(RuleError::Refused(format!(
                "item {new_id} is the same option as the one ordered"
            )));
        }
        if !new.available {
            return Err(RuleError::Refused(format!(
                "{} with {} is not available",
                product.name,
                describe_options(&new.options)
            )));
        }
        diff += new.price - old.price;
    }
    Ok(round_cents(diff))
}

fn describe_options(options: &BTreeMap<String, String>) -> String {
    options
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn require_gift_card_covers(user: &User, payment_method_id: &str, amount: f64) -> Rule {
    let method = payment_method(user, payment_method_id)?;
    if method.source == PaymentSource::GiftCard {
        let balance = method.balance.unwrap_or(0.0);
        if balance + 1e-9 < amount {
            return Err(RuleError::Refused(format!(
                "gift card {payment_method_id} has a balance of {balance:.2}, not enough for {amount:.2}"
            )));
        }
    }
    Ok(())
}

fn adjust_gift_card(user: &mut User, payment_method_id: &str, delta: f64) {
    if let Some(method) = user.payment_methods.get_mut(payment_method_id) {
        if method.source == PaymentSource::GiftCard {
            method.balance = Some(round_cents(method.balance.unwrap_or(0.0) + delta));
        }
    }
}

/// Cancel a pending order: refund every payment to its method (gift cards at once).
pub fn cancel_pending_order(order: &mut Order, user: &mut User, reason: &str) -> Rule {
    require_status(order, OrderStatus::Pending, "cancelled")?;
    if !CANCEL_REASONS.contains(&reason) {
        return Err(RuleError::Refused(format!(
            "`{reason}` is not a cancellation reason we accept (only: {})",
            CANCEL_REASONS.join(", ")
        )));
    }
    let refunds: Vec<Transaction> = order
        .payment_history
        .iter()
        .filter(|t| t.transaction_type == TransactionType::Payment)
        .map(|t| Transaction {
            transaction_type: TransactionType::Refund,
            amount: t.amount,
            payment_method_id: t.payment_method_id.clone(),
        })
        .collect();
    for refund in &refunds {
        adjust_gift_card(user, &refund.payment_method_id, refund.amount);
    }
    order.payment_history.extend(refunds);
    order.status = OrderStatus::Cancelled;
    order.cancel_reason = Some(reason.to_string());
    Ok(())
}

/// Change where a pending order ships.
pub fn modify_pending_order_address(order: &mut Order, address: Address) -> Rule {
    require_any_pending(order)?;
    order.address = address;
    Ok(())
}

/// Swap items of a pending order for other options of the same products (once per order).
pub fn modify_pending_order_items(
    order: &mut Order,
    user: &mut User,
    products: &BTreeMap<String, Product>,
    item_ids: &[String],
    new_item_ids: &[String],
    payment_method_id: &str,
) -> Rule {
    require_status(order, OrderStatus::Pending, "modified")?;
    let diff = price_difference(order, products, item_ids, new_item_ids)?;
    require_gift_card_covers(user, payment_method_id, diff)?;
    if diff != 0.0 {
        order.payment_history.push(Transaction {
            transaction_type: if diff > 0.0 {
                TransactionType::Payment
            } else {
                TransactionType::Refund
            },
            amount: diff.abs(),
            payment_method_id: payment_method_id.to_string(),
        });
        adjust_gift_card(user, payment_method_id, -diff);
    }
    for (old_id, new_id) in item_ids.iter().zip(new_item_ids) {
        let item = order
            .items
            .iter_mut()
            .find(|i| &i.item_id == old_id)
            .expect("checked by price_difference");
        let variant = &products[&item.product_id].variants[new_id];
        item.item_id = new_id.clone();
        item.price = variant.price;
        item.options = variant.options.clone();
    }
    order.status = OrderStatus::PendingItemModified;
    Ok(())
}

/// Pay a pending order with another single method; the old one is refunded.
pub fn modify_pending_order_payment(
    order: &mut Order,
    user: &mut User,
    payment_method_id: &str,
) -> Rule {
    require_any_pending(order)?;
    payment_method(user, payment_method_id)?;
    let [payment] = order.payment_history.as_slice() else {
        return Err(RuleError::Refused(format!(
            "order {} has more than one payment; its payment method cannot be changed",
            order.order_id
        )));
    };
    if payment.payment_method_id == payment_method_id {
        return Err(RuleError::Refused(format!(
            "order {} is already paid with {payment_method_id}",
            order.order_id
        )));
    }
    let (amount, old_method) = (payment.amount, payment.payment_method_id.clone());
    require_gift_card_covers(user, payment_method_id, amount)?;
    order.payment_history.push(Transaction {
        transaction_type: TransactionType::Payment,
        amount,
        payment_method_id: payment_method_id.to_string(),
    });
    order.payment_history.push(Transaction {
        transaction_type: TransactionType::Refund,
        amount,
        payment_method_id: old_method.clone(),
    });
    adjust_gift_card(user, payment_method_id, -amount);
    adjust_gift_card(user, &old_method, amount);
    Ok(())
}

/// Request a return of delivered items; the refund goes to the original method or a gift card.
pub fn return_delivered_order_items(
    order: &mut Order,
    user: &User,
    item_ids: &[String],
    payment_method_id: &str,
) -> Rule {
    require_status(order, OrderStatus::Delivered, "returned")?;
    let method = payment_method(user, payment_method_id)?;
    let original = order
        .payment_history
        .first()
        .map(|t| t.payment_method_id.as_str());
    if method.source != PaymentSource::GiftCard && original != Some(payment_method_id) {
        return Err(RuleError::Refused(format!(
            "refunds go to the original payment method ({}) or a gift card, not {payment_method_id}",
            original.unwrap_or("none")
        )));
    }
    require_items(order, item_ids)?;
    let mut items = item_ids.to_vec();
    items.sort();
    order.return_items = Some(items);
    order.return_payment_method_id = Some(payment_method_id.to_string());
    order.status = OrderStatus::ReturnRequested;
    Ok(())
}

/// Request an exchange of delivered items for other options of the same products.
pub fn exchange_delivered_order_items(
    order: &mut Order,
    user: &User,
    products: &BTreeMap<String, Product>,
    item_ids: &[String],
    new_item_ids: &[String],
    payment_method_id: &str,
) -> Rule {
    require_status(order, OrderStatus::Delivered, "exchanged")?;
    let diff = price_difference(order, products, item_ids, new_item_ids)?;
    require_gift_card_covers(user, payment_method_id, diff)?;
    let (mut old, mut new) = (item_ids.to_vec(), new_item_ids.to_vec());
    old.sort();
    new.sort();
    order.exchange_items = Some(old);
    order.exchange_new_items = Some(new);
    order.exchange_payment_method_id = Some(payment_method_id.to_string());
    order.exchange_price_difference = Some(diff);
    order.status = OrderStatus::ExchangeRequested;
    Ok(())
}

/// Change a customer's default address.
pub fn modify_user_address(user: &mut User, address: Address) -> Rule {
    user.address = address;
    Ok(())
}

/// Cancel an active or paused subscription.
pub fn cancel_subscription(subscription: &mut Subscription, reason: &str) -> Rule {
    if subscription.status == SubscriptionStatus::Cancelled {
        return Err(RuleError::Refused(format!(
            "subscription {} is already cancelled",
            subscription.subscription_id
        )));
    }
    if reason.trim().is_empty() {
        return Err(RuleError::Refused(
            "a cancellation reason is required".into(),
        ));
    }
    subscription.status = SubscriptionStatus::Cancelled;
    subscription.cancel_reason = Some(reason.trim().to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::{generate, SeedOptions};
    use chrono::NaiveDate;

    fn shop() -> crate::ShopData {
        generate(&SeedOptions::demo(
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
        ))
    }

    fn ada_order(data: &crate::ShopData, id: &str) -> (Order, User) {
        let order = data.orders[id].clone();
        let user = data.users[&order.user_id].clone();
        (order, user)
    }

    #[test]
    fn cancelling_refunds_every_payment_and_credits_gift_cards_at_once() {
        let data = shop();
        let (mut order, mut user) = ada_order(&data, "#W0000001");
        // Pay it by gift card to see the balance move.
        order.payment_history[0].payment_method_id = "gift_card_1000002".into();
        let paid = order.payment_history[0].amount;
        cancel_pending_order(&mut order, &mut user, "ordered by mistake").unwrap();
        assert_eq!(order.status, OrderStatus::Cancelled);
        assert_eq!(order.net_paid(), 0.0);
        assert_eq!(
            user.payment_methods["gift_card_1000002"].balance,
            Some(round_cents(120.0 + paid))
        );
        let again = cancel_pending_order(&mut order, &mut user, "ordered by mistake").unwrap_err();
        assert!(
            again
                .to_string()
                .contains("is cancelled; only pending orders can be cancelled"),
            "{again}"
        );
    }

    #[test]
    fn cancelling_needs_an_accepted_reason_and_a_pending_order() {
        let data = shop();
        let (mut order, mut user) = ada_order(&data, "#W0000001");
        let err = cancel_pending_order(&mut order, &mut user, "found it cheaper").unwrap_err();
        assert!(
            matches!(err, RuleError::Refused(ref m) if m.contains("not a cancellation reason"))
        );
        assert_eq!(
            order.status,
            OrderStatus::Pending,
            "a refusal changes nothing"
        );
        let (mut delivered, mut user) = ada_order(&data, "#W0000002");
        assert!(cancel_pending_order(&mut delivered, &mut user, "no longer needed").is_err());
    }

    #[test]
    fn returns_refund_only_to_the_original_method_or_a_gift_card() {
        let data = shop();
        let (mut order, mut user) = ada_order(&data, "#W0000002");
        order.payment_history[0].payment_method_id = "credit_card_1000001".into();
        user.payment_methods.insert(
            "paypal_9".into(),
            crate::model::PaymentMethod {
                id: "paypal_9".into(),
                source: crate::model::PaymentSource::Paypal,
                brand: None,
                last_four: None,
                balance: None,
            },
        );
        let item = vec![order.items[0].item_id.clone()];
        let err =
            return_delivered_order_items(&mut order.clone(), &user, &item, "paypal_9").unwrap_err();
        assert!(err.to_string().contains("original payment method"), "{err}");
        return_delivered_order_items(&mut order.clone(), &user, &item, "gift_card_1000002")
            .unwrap();
        return_delivered_order_items(&mut order, &user, &item, "credit_card_1000001").unwrap();
        assert_eq!(order.status, OrderStatus::ReturnRequested);
        assert_eq!(order.return_items, Some(item));
        let twice = vec![order.items[0].item_id.clone(); order.items.len() + 1];
        let (mut fresh, _) = ada_order(&data, "#W0000002");
        assert!(matches!(
            return_delivered_order_items(&mut fresh, &user, &twice, "gift_card_1000002"),
            Err(RuleError::NotFound(_))
        ));
    }

    #[test]
    fn exchanges_stay_within_the_product_and_gift_cards_must_cover_the_difference() {
        let data = shop();
        let (order, user) = ada_order(&data, "#W0000002");
        let item = &order.items[0];
        let product = &data.products[&item.product_id];
        let other = product
            .variants
            .values()
            .find(|v| v.item_id != item.item_id && v.available)
            .expect("another available option");
        let other_product_item = data
            .products
            .values()
            .find(|p| p.product_id != item.product_id)
            .and_then(|p| p.variants.keys().next())
            .unwrap()
            .clone();

        let err = exchange_delivered_order_items(
            &mut order.clone(),
            &user,
            &data.products,
            std::slice::from_ref(&item.item_id),
            &[other_product_item],
            "credit_card_1000001",
        )
        .unwrap_err();
        assert!(err.to_string().contains("same product"), "{err}");

        let err = exchange_delivered_order_items(
            &mut order.clone(),
            &user,
            &data.products,
            std::slice::from_ref(&item.item_id),
            std::slice::from_ref(&item.item_id),
            "credit_card_1000001",
        )
        .unwrap_err();
        assert!(err.to_string().contains("same option"), "{err}");

        let mut poor = user.clone();
        poor.payment_methods
            .get_mut("gift_card_1000002")
            .unwrap()
            .balance = Some(0.0);
        let diff = round_cents(other.price - item.price);
        let result = exchange_delivered_order_items(
            &mut order.clone(),
            &poor,
            &data.products,
            std::slice::from_ref(&item.item_id),
            std::slice::from_ref(&other.item_id),
            "gift_card_1000002",
        );
        if diff > 0.0 {
            assert!(result.unwrap_err().to_string().contains("not enough"));
        } else {
            result.unwrap();
        }

        let mut exchanged = order.clone();
        exchange_delivered_order_items(
            &mut exchanged,
            &user,
            &data.products,
            std::slice::from_ref(&item.item_id),
            std::slice::from_ref(&other.item_id),
            "credit_card_1000001",
        )
        .unwrap();
        assert_eq!(exchanged.status, OrderStatus::ExchangeRequested);
        assert_eq!(exchanged.exchange_price_difference, Some(diff));
    }

    #[test]
    fn pending_items_can_be_modified_once_and_the_difference_is_settled() {
        let data = shop();
        let (mut order, mut user) = ada_order(&data, "#W0000001");
        let item = order.items[0].clone();
        let other = data.products[&item.product_id]
            .variants
            .values()
            .find(|v| v.item_id != item.item_id && v.available)
            .unwrap()
            .clone();
        let before = order.net_paid();
        modify_pending_order_items(
            &mut order,
            &mut user,
            &data.products,
            std::slice::from_ref(&item.item_id),
            std::slice::from_ref(&other.item_id),
            "credit_card_1000001",
        )
        .unwrap();
        assert_eq!(order.status, OrderStatus::PendingItemModified);
        assert_eq!(order.items[0].item_id, other.item_id);
        assert_eq!(
            order.net_paid(),
            round_cents(before + other.price - item.price)
        );
        let err = modify_pending_order_items(
            &mut order,
            &mut user,
            &data.products,
            std::slice::from_ref(&other.item_id),
            std::slice::from_ref(&item.item_id),
            "credit_card_1000001",
        )
        .unwrap_err();
        assert!(err.to_string().contains("only pending orders"), "{err}");
    }

    #[test]
    fn payment_changes_move_money_between_methods() {
        let data = shop();
        let (mut order, mut user) = ada_order(&data, "#W0000001");
        order.payment_history[0].payment_method_id = "credit_card_1000001".into();
        let amount = order.payment_history[0].amount;
        let result = modify_pending_order_payment(
            &mut order.clone(),
            &mut user.clone(),
            "gift_card_1000002",
        );
        if amount > 120.0 {
            assert!(result.unwrap_err().to_string().contains("not enough"));
            user.payment_methods
                .get_mut("gift_card_1000002")
                .unwrap()
                .balance = Some(amount + 1.0);
        }
        let start = user.payment_methods["gift_card_1000002"].balance.unwrap();
        modify_pending_order_payment(&mut order, &mut user, "gift_card_1000002").unwrap();
        assert_eq!(
            user.payment_methods["gift_card_1000002"].balance,
            Some(round_cents(start - amount))
        );
        assert_eq!(order.net_paid(), amount);
        let err =
            modify_pending_order_payment(&mut order, &mut user, "credit_card_1000001").unwrap_err();
        assert!(err.to_string().contains("more than one payment"), "{err}");
    }
}
