"""The checkout's messages in Simplified Chinese (the default) and English: its catalogue, registered over
the shared one in :mod:`gateway.web.i18n` (which negotiates the language and formats amounts). The
shopper's explicit choice lives in the ``checkout_lang`` cookie set by the switch.
"""
from __future__ import annotations

from gateway.web.i18n import Catalogue

MESSAGES: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "收银台", "amount": "应付金额", "merchant": "商户", "order": "订单",
        "expires_in": "剩余支付时间", "choose": "选择支付方式", "scan_with": "请使用{app}扫一扫",
        "download_qr": "下载二维码 (PNG)",
        "sandbox_link": "沙箱：打开模拟手机支付页面", "aggregated": "{apps}扫码均可", "or": "或",
        "pay_now": "立即支付", "continue_in_app": "在应用中继续支付", "waiting": "等待支付…",
        "paid": "支付成功", "paid_detail": "商户已收到您的付款。", "redirecting": "正在返回商户…",
        "back_to_merchant": "返回商户", "closed": "订单已关闭", "closed_detail": "此订单已关闭，无法支付。",
        "expired": "订单已过期", "expired_detail": "支付时间已过，请返回商户重新下单。",
        "refunded": "已退款", "other_scanner": "请使用{apps}扫描此二维码",
        "other_scanner_detail": "此二维码需要在{apps}中打开。您也可以在浏览器中打开收银台：",
        "open_cashier": "打开收银台", "no_methods": "暂无可用的支付方式，请联系商户。",
        "switch_lang": "English", "error": "出错了", "not_found": "找不到该订单或链接",
        "channel_error": "支付渠道暂时不可用，请稍后再试或换一种支付方式。",
        "enter_amount": "请输入金额（元）", "amount_range": "金额范围", "create": "去支付",
        "bad_amount": "请输入有效金额", "link_inactive": "该收款链接已停用", "try_again": "重试",
        "in_app_unavailable": "请在浏览器中打开此页面以使用其他支付方式。",
        "risk_blocked": "暂时无法完成此支付。如有疑问，请联系商户。",
        "too_many": "操作过于频繁，请稍等片刻再试。",
        "refunded_detail": "此订单的款项已原路退回。", "cannot_pay_now": "暂时无法支付",
        "link_inactive_detail": "请联系商户获取新的付款方式。", "pay_link": "去支付",
        "other_methods": "或选择其他支付方式", "scan_any": "请使用{apps}扫码支付",
        "pay_with_balance": "使用余额支付", "balance_title": "确认余额支付", "balance_available": "可用余额",
        "confirm_pay": "确认支付", "balance_insufficient": "余额不足，请选择其他支付方式。",
        "balance_declined": "余额支付未成功，请稍后再试或选择其他支付方式。",
        "balance_frozen": "余额账户已冻结，暂不能使用。", "back": "返回收银台",
    },
    "en": {
        "title": "Checkout", "amount": "Amount due", "merchant": "Merchant", "order": "Order",
        "expires_in": "Time left to pay", "choose": "Choose how to pay", "scan_with": "Scan with {app}",
        "download_qr": "Download QR code (PNG)",
        "sandbox_link": "Sandbox: open the sandbox phone page", "aggregated": "Scan with {apps}", "or": " or ",
        "pay_now": "Pay now", "continue_in_app": "Continue in the app", "waiting": "Waiting for payment…",
        "paid": "Payment successful", "paid_detail": "The merchant has received your payment.",
        "redirecting": "Taking you back to the merchant…", "back_to_merchant": "Back to the merchant",
        "closed": "Order closed", "closed_detail": "This order is closed and can no longer be paid.",
        "expired": "Order expired", "expired_detail": "The time to pay has passed; please order again at the merchant.",
        "refunded": "Refunded", "other_scanner": "Scan this code with {apps}",
        "other_scanner_detail": "This code opens in {apps}. You can also open the checkout in your browser:",
        "open_cashier": "Open the checkout", "no_methods": "No pay method is available; please contact the merchant.",
        "switch_lang": "中文", "error": "Something went wrong", "not_found": "No such order or link",
        "channel_error": "The payment channel is unavailable right now; try again or choose another method.",
        "enter_amount": "Enter the amount (yuan)", "amount_range": "Allowed range", "create": "Continue to pay",
        "bad_amount": "Please enter a valid amount", "link_inactive": "This payment link is no longer active",
        "try_again": "Try again",
        "in_app_unavailable": "Open this page in a browser to use other pay methods.",
        "risk_blocked": "This payment cannot be made right now. Please contact the merchant if you need help.",
        "too_many": "Too many tries in a short time; please wait a moment and try again.",
        "refunded_detail": "This payment has been refunded to how it was paid.", "cannot_pay_now": "Cannot be paid now",
        "link_inactive_detail": "Please ask the merchant for another way to pay.", "pay_link": "Pay",
        "other_methods": "Or choose another way to pay", "scan_any": "Scan with {apps} to pay",
        "pay_with_balance": "Pay with balance", "balance_title": "Confirm payment from balance",
        "balance_available": "Available balance", "confirm_pay": "Confirm and pay",
        "balance_insufficient": "Your balance does not cover this; please choose another way to pay.",
        "balance_declined": "Paying from balance did not succeed; try again or choose another way to pay.",
        "balance_frozen": "This balance is frozen and cannot be used now.", "back": "Back to the checkout",
    },
}

CATALOGUE = Catalogue(MESSAGES, cookie="checkout_lang")
COOKIE = CATALOGUE.cookie
STRINGS = CATALOGUE.strings
language = CATALOGUE.language
