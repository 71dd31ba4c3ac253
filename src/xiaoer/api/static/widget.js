/* 店小二 shopper widget: one <script src=".../widget.js" data-token="..."> tag on any page.
 *
 * data-token  a shopper token the merchant's server minted (POST /v1/shopper-tokens)
 * data-api    where xiaoer is served (default: where this script came from)
 * data-lang   zh (default) | en
 *
 * Every message carries a client_key and waits in localStorage until its answer came, so a
 * dropped connection or a reload resends it with the same key: the server stores it once and
 * answers it once (a resend gets that one answer back). After a reload the conversation is
 * read back from the server, which is the record; nothing is shown twice.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__xiaoerWidget) return;
  window.__xiaoerWidget = true;

  var TOKEN = script.getAttribute("data-token") || "";
  var API = (script.getAttribute("data-api") || new URL(script.src, location.href).origin).replace(/\/$/, "");
  var EN = (script.getAttribute("data-lang") || "zh").toLowerCase().indexOf("en") === 0;
  var WORDS = {
    open: ["联系客服", "Chat with us"],
    title: ["在线客服 · 店小二", "Customer service · xiaoer"],
    close: ["关闭", "Close"],
    label: ["输入消息", "Your message"],
    send: ["发送", "Send"],
    confirm: ["确认办理", "Confirm"],
    decline: ["不办了", "Cancel it"],
    human: ["人工客服", "Agent"],
    you: ["我", "Me"],
    bot: ["店小二", "xiaoer"],
    reconnecting: ["网络中断，正在重新连接…", "Connection lost, reconnecting…"],
    failed: ["发送失败，请检查网络后重试", "Could not send. Check your connection and retry."],
    retry: ["重试", "Retry"],
    expired: ["登录已过期，请刷新页面", "Your session expired: please reload the page"],
    handed: ["已转接人工客服，请稍候", "You are with a human agent now"],
    back: ["人工客服已结束接待，接下来由智能客服为您服务", "The human agent has finished: the AI assistant takes it from here"],
    thinking: ["正在输入…", "Typing…"],
    confirmed: ["已提交", "Sent"],
    from: ["起", "from"],
    soldout: ["暂无库存", "sold out"],
    instock: ["有货", "in stock"],
    rate: ["本次服务满意吗？", "How did we do?"],
    rated: ["感谢您的评价！", "Thanks for rating us!"],
    points: [" 分：", " of 5: "]
  };
  var LEVELS = EN ? ["very poor", "poor", "OK", "good", "very good"]
                  : ["非常不满意", "不满意", "一般", "满意", "非常满意"];
  function t(key) { return WORDS[key][EN ? 1 : 0]; }

  function claims() {
    try {
      var body = TOKEN.split(".")[0].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(decodeURIComponent(escape(atob(body + "===".slice((body.length + 3) % 4)))));
    } catch (e) { return {}; }
  }
  var who = claims();
  var KEY = "xiaoer:" + API + ":" + (who.shop || "") + ":" + (who.shopper || "");
  function load(name, fallback) {
    try { var v = localStorage.getItem(KEY + ":" + name); return v ? JSON.parse(v) : fallback; }
    catch (e) { return fallback; }
  }
  function save(name, value) {
    try {
      if (value === null) localStorage.removeItem(KEY + ":" + name);
      else localStorage.setItem(KEY + ":" + name, JSON.stringify(value));
    } catch (e) { /* private mode: the conversation lives as long as the page */ }
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "k" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  /* ---- the page ---- */
  var host = document.createElement("div");
  host.id = "xiaoer-widget";
  document.body.appendChild(host);
  var root = host.attachShadow({ mode: "open" });
  root.innerHTML =
    "<style>" +
    ":host{all:initial}" +
    "*{box-sizing:border-box;font:15px/1.5 system-ui,'PingFang SC','Noto Sans CJK SC','WenQuanYi Zen Hei',sans-serif}" +
    ".bubble{position:fixed;right:24px;bottom:24px;z-index:2147483000;border:0;border-radius:24px;padding:12px 20px;background:#0b57d0;color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25)}" +
    ".bubble:focus-visible,button:focus-visible,textarea:focus-visible{outline:3px solid #f9ab00;outline-offset:2px}" +
    ".panel{position:fixed;right:24px;bottom:84px;z-index:2147483000;width:min(380px,calc(100vw - 32px));height:min(560px,calc(100vh - 120px));display:flex;flex-direction:column;background:#fff;color:#1f2328;border:1px solid #c9d1d9;border-radius:12px;box-shadow:0 8px 28px rgba(0,0,0,.22);overflow:hidden}" +
    ".panel[hidden]{display:none}" +
    "header{display:flex;justify-content:space-between;align-items:center;padding:10px 14px;background:#0b57d0;color:#fff}" +
    "header h2{margin:0;font-size:16px;font-weight:600}" +
    "header button{background:transparent;color:#fff;border:0;font-size:20px;cursor:pointer}" +
    ".log{flex:1;overflow-y:auto;padding:12px;background:#f6f7f9}" +
    ".msg{max-width:85%;margin:6px 0;padding:8px 12px;border-radius:10px;white-space:pre-wrap;word-break:break-word}" +
    ".msg small{display:block;color:#57606a;font-size:12px}" +
    ".shopper{margin-left:auto;background:#0b57d0;color:#fff}.shopper small{color:#dbe6fb}" +
    ".assistant,.agent{background:#fff;border:1px solid #d8dde3}" +
    ".agent{border-color:#1a7f37}" +
    ".card{margin:6px 0;padding:8px 12px;background:#fff;border:1px solid #d8dde3;border-radius:10px;max-width:85%}" +
    ".card b{display:block}.card .p{color:#b42318;font-weight:600}.card ul{margin:4px 0 0;padding-left:18px;font-size:13px}" +
    ".actions{display:flex;gap:8px;margin:6px 0}" +
    ".actions button,.retry{border:1px solid #0b57d0;background:#fff;color:#0b57d0;border-radius:6px;padding:6px 12px;cursor:pointer}" +
    ".actions button.yes{background:#0b57d0;color:#fff}" +
    ".rate{display:flex;align-items:center;gap:2px;padding:2px 14px;color:#57606a;font-size:13px}.rate[hidden]{display:none}" +
    ".rate button{border:0;background:transparent;color:#6e7781;font-size:18px;line-height:1;padding:0 2px;cursor:pointer}.rate button.on{color:#9a5b00}" +
    ".status{min-height:20px;padding:2px 14px;color:#57606a;font-size:13px}" +
    "form{display:flex;gap:8px;padding:10px;border-top:1px solid #d8dde3}" +
    "textarea{flex:1;resize:none;height:44px;padding:8px;border:1px solid #8c959f;border-radius:6px;color:#1f2328}" +
    "form button{border:0;border-radius:6px;padding:0 16px;background:#0b57d0;color:#fff;cursor:pointer}" +
    "form button:disabled{background:#8c959f}" +
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}" +
    "</style>" +
    "<button class='bubble' type='button' aria-expanded='false' aria-controls='xiaoer-panel'></button>" +
    "<section class='panel' id='xiaoer-panel' role='dialog' hidden>" +
    "<header><h2 id='xiaoer-title'></h2><button class='close' type='button'>×</button></header>" +
    "<div class='log' role='log' aria-live='polite'></div>" +
    "<div class='rate' role='group' hidden><span class='ask'></span></div>" +
    "<div class='status' role='status' aria-live='polite'></div>" +
    "<form><label class='sr' for='xiaoer-input'></label>" +
    "<textarea id='xiaoer-input' maxlength='2000'></textarea>" +
    "<button type='submit'></button></form></section>";
  var bubble = root.querySelector(".bubble");
  var panel = root.querySelector(".panel");
  var log = root.querySelector(".log");
  var status = root.querySelector(".status");
  var form = root.querySelector("form");
  var input = root.querySelector("textarea");
  var sendButton = form.querySelector("button");
  bubble.textContent = t("open");
  root.querySelector("#xiaoer-title").textContent = t("title");
  panel.setAttribute("aria-labelledby", "xiaoer-title");
  root.querySelector(".close").setAttribute("aria-label", t("close"));
  form.querySelector("label").textContent = t("label");
  sendButton.textContent = t("send");
  var rateBar = root.querySelector(".rate");
  rateBar.querySelector(".ask").textContent = t("rate");
  rateBar.setAttribute("aria-label", t("rate"));
  var stars = LEVELS.map(function (level, i) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = "★";
    b.setAttribute("aria-label", (i + 1) + t("points") + level);
    b.setAttribute("aria-pressed", "false");
    b.addEventListener("click", function () { rate(i + 1); });
    rateBar.appendChild(b);
    return b;
  });

  var conversation = load("conversation", null);
  var outbox = load("outbox", []);
  var shown = {};          // message ids already on screen
  var arrived = {};        // client_keys the server has stored
  var handedOver = false;
  var polling = null;
  var busy = false;

  function say(text) { status.textContent = text || ""; }
  function scroll() { log.scrollTop = log.scrollHeight; }

  function addMessage(role, text, id) {
    if (id && shown[id]) return null;
    if (id) shown[id] = true;
    var el = document.createElement("div");
    el.className = "msg " + role;
    var who = document.createElement("small");
    who.textContent = role === "shopper" ? t("you") : role === "agent" ? t("human") : t("bot");
    var body = document.createElement("span");
    body.textContent = text;
    el.appendChild(who);
    el.appendChild(body);
    log.appendChild(el);
    scroll();
    if (role !== "shopper") rateBar.hidden = false;  // an answer: the shopper may rate it
    return body;
  }

  /* ---- the shopper's rating of the conversation (1–5; again replaces it) ---- */
  function showRating(score) {
    stars.forEach(function (b, i) {
      b.classList.toggle("on", i < score);
      b.setAttribute("aria-pressed", String(i + 1 === score));
    });
  }
  async function rate(score) {
    if (!conversation) return;
    try {
      var res = await api("/v1/conversations/" + conversation + "/rating", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ score: score })
      });
      if (!res.ok) { say(await problem(res)); return; }
      showRating(score);
      say(t("rated"));
    } catch (e) { say(t("failed")); }
  }

  function api(path, options) {
    options = options || {};
    options.headers = Object.assign({ Authorization: "Bearer " + TOKEN }, options.headers || {});
    return fetch(API + path, options);
  }

  async function problem(res) {
    try { var data = await res.json(); return (data.error && data.error.message) || res.statusText; }
    catch (e) { return res.statusText; }
  }

  async function ensureConversation() {
    if (conversation) return conversation;
    var res = await api("/v1/conversations", { method: "POST" });
    if (res.status === 401) { say(t("expired")); throw new Error("expired"); }
    if (!res.ok) throw new Error(await problem(res));
    conversation = (await res.json()).conversation_id;
    save("conversation", conversation);
    return conversation;
  }

  /* ---- what a reply brings: product cards, buttons, handoff ---- */
  async function showCard(productId) {
    var res = await api("/v1/products/" + encodeURIComponent(productId));
    if (!res.ok) return;
    var p = await res.json();
    var card = document.createElement("div");
    card.className = "card";
    var title = document.createElement("b");
    title.textContent = p.title;
    var price = document.createElement("span");
    price.className = "p";
    price.textContent = "¥" + p.price[0] + (p.price[1] !== p.price[0] ? " " + t("from") : "");
    var list = document.createElement("ul");
    p.options.slice(0, 6).forEach(function (o) {
      var li = document.createElement("li");
      var names = Object.keys(o.options).map(function (k) { return o.options[k]; }).join(" / ");
      li.textContent = names + " ¥" + o.price + " · " + (o.available ? t("instock") : t("soldout"));
      list.appendChild(li);
    });
    card.appendChild(title);
    card.appendChild(price);
    card.appendChild(list);
    log.appendChild(card);
    scroll();
  }

  function showButtons(action) {
    if (action.status !== "pending" || root.querySelector("[data-action='" + action.id + "']")) return;
    var row = document.createElement("div");
    row.className = "actions";
    row.setAttribute("data-action", action.id);
    row.setAttribute("role", "group");
    row.setAttribute("aria-label", action.summary);
    [["confirm", "yes", t("confirm")], ["decline", "no", t("decline")]].forEach(function (b) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = b[1];
      button.textContent = b[2];
      button.addEventListener("click", function () { press(action.id, b[0], row); });
      row.appendChild(button);
    });
    log.appendChild(row);
    scroll();
  }

  async function press(actionId, verb, row) {
    row.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    try {
      var res = await api("/v1/conversations/" + conversation + "/actions/" + actionId + "/" + verb,
                          { method: "POST" });
      if (!res.ok) { say(await problem(res)); row.querySelectorAll("button").forEach(function (b) { b.disabled = false; }); return; }
      var result = await res.json();
      row.textContent = t("confirmed");
      await history();  // the press as the server stored it ("确认"), then its reply, in order
      if (!(result.message_id && shown[result.message_id])) addMessage("assistant", result.reply, result.message_id);
      settle(result, null);
    } catch (e) {
      say(t("failed"));
      row.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
    }
  }

  function settle(result, body) {
    if (body) body.textContent = result.reply;
    if (result.message_id) shown[result.message_id] = true;
    var products = {};
    (result.tool_calls || []).forEach(function (c) {
      if (c.name === "get_product" && c.ok && c.arguments && c.arguments.product_id) products[c.arguments.product_id] = true;
    });
    Object.keys(products).slice(0, 3).forEach(showCard);
    (result.actions || []).forEach(showButtons);
    if (result.handoff) { handedOver = true; say(t("handed")); watch(); }
  }

  /* ---- sending, with resends under the same key ---- */
  async function stream(item) {
    var cid = await ensureConversation();
    var res = await api("/v1/conversations/" + cid + "/messages", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ text: item.text, client_key: item.client_key })
    });
    if (res.status === 401) { say(t("expired")); return "stop"; }
    if (res.status === 404) { conversation = null; save("conversation", null); return "again"; }
    // 409: the same message is still being answered by another server; 429/5xx: busy
    if (res.status === 409 || res.status === 429 || res.status >= 500) return "again";
    if (!res.ok) { say(await problem(res)); return "stop"; }
    var body = null;
    var reader = res.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) return "again";       // cut off before `done`: resend, the server replays
      buffer += decoder.decode(chunk.value, { stream: true });
      var cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        var frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        var event = "message", data = "";
        frame.split("\n").forEach(function (line) {
          if (line.indexOf("event: ") === 0) event = line.slice(7);
          else if (line.indexOf("data: ") === 0) data += line.slice(6);
        });
        if (!data) continue;                // a `: ping` keepalive
        var payload = JSON.parse(data);
        if (event === "accepted") { shown[payload.message_id] = true; say(t("thinking")); }
        else if (event === "queued") say(payload.waiting ? payload.text : t("thinking"));
        else if (event === "delta") {
          if (!body) body = addMessage("assistant", "");
          // reset: the checked reply replaces the sentences streamed before it
          if (body) { body.textContent = (payload.reset ? "" : body.textContent) + payload.text; scroll(); }
        } else if (event === "done") {
          say("");
          if (payload.message_id && shown[payload.message_id]) {
            if (body) body.parentNode.remove();   // a replayed answer already on screen
          } else {
            body = body || addMessage("assistant", "", null);
            settle(payload, body);
          }
          return "done";
        } else if (event === "error") {
          say(payload.message);
          return "stop";
        }
      }
    }
  }

  async function deliver(item) {
    for (var attempt = 0; attempt < 6; attempt++) {
      var outcome;
      try { outcome = await stream(item); } catch (e) { outcome = "again"; }
      if (outcome === "done" || outcome === "stop") {
        outbox = outbox.filter(function (o) { return o.client_key !== item.client_key; });
        save("outbox", outbox);
        return true;
      }
      say(t("reconnecting"));
      await sleep(Math.min(8000, 500 * Math.pow(2, attempt)));
    }
    say(t("failed"));
    var again = document.createElement("button");
    again.type = "button";
    again.className = "retry";
    again.textContent = t("retry");
    again.addEventListener("click", function () { again.remove(); flush(); });
    status.appendChild(again);
    return false;
  }

  async function flush() {
    if (busy) return;
    busy = true;
    sendButton.disabled = true;
    try {
      while (outbox.length) {
        if (!(await deliver(outbox[0]))) break;
      }
    } finally {
      busy = false;
      sendButton.disabled = false;
    }
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    var item = { client_key: uuid(), text: text };
    outbox.push(item);
    save("outbox", outbox);
    addMessage("shopper", text);
    flush();
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  });

  /* ---- the record after a reload, and a human's replies while handed over ---- */
  async function history() {
    if (!conversation) return;
    var res = await api("/v1/conversations/" + conversation);
    if (res.status === 404) { conversation = null; save("conversation", null); return; }
    if (!res.ok) return;
    var data = await res.json();
    data.messages.forEach(function (m) {
      if (m.client_key) arrived[m.client_key] = true;
      if (m.role === "shopper" || m.role === "assistant" || m.role === "agent") addMessage(m.role, m.text, m.id);
    });
    (data.actions || []).forEach(showButtons);
    if (data.rating) showRating(data.rating.score);
    if (data.handed_over && !handedOver) { handedOver = true; say(t("handed")); watch(); }
    if (!data.handed_over && handedOver) released();
  }
  function released() {
    handedOver = false;
    if (typeof polling === "number") clearInterval(polling);
    polling = false;
    say(t("back"));
  }

  /* While handed over, a human's replies arrive on a live stream of the conversation (SSE
     read with fetch, for the token header); it reconnects from the newest message on screen,
     and falls back to asking for the history every 4 s when the stream cannot be had. The
     stream ends with `released` once the AI has the conversation again. */
  function newest() {
    return Object.keys(shown).reduce(function (a, k) { return Math.max(a, +k || 0); }, 0);
  }
  async function listen() {
    var res = await api("/v1/conversations/" + conversation + "/events?after=" + newest(),
                        { headers: { Accept: "text/event-stream" } });
    if (!res.ok || !res.body) throw new Error(res.statusText);
    var reader = res.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) return;
      buffer += decoder.decode(chunk.value, { stream: true });
      var cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        var frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        var lines = frame.split("\n");
        var data = lines.filter(function (l) { return l.indexOf("data: ") === 0; })
          .map(function (l) { return l.slice(6); }).join("");
        if (!data) continue;                // `: connected`, `: ping`
        if (lines.indexOf("event: released") >= 0) { released(); return; }
        var m = JSON.parse(data);
        if (m.role === "shopper" && !shown[m.id]) { shown[m.id] = true; continue; }  // on screen
        addMessage(m.role, m.text, m.id);
      }
    }
  }
  async function watch() {
    if (polling) return;
    polling = true;
    for (var failures = 0; failures < 3 && conversation && handedOver;) {
      try { await listen(); failures = 0; } catch (e) { failures++; }
      if (handedOver) await sleep(1000 * (failures + 1));
    }
    if (!handedOver) return;
    polling = setInterval(function () { if (!panel.hidden && !busy) history(); }, 4000);
  }

  var started = false;
  async function open() {
    panel.hidden = false;
    bubble.setAttribute("aria-expanded", "true");
    input.focus();
    if (started) return;
    started = true;
    await history();
    outbox.forEach(function (o) { if (!arrived[o.client_key]) addMessage("shopper", o.text); });
    flush();
  }
  function close() {
    panel.hidden = true;
    bubble.setAttribute("aria-expanded", "false");
    bubble.focus();
  }
  bubble.addEventListener("click", function () { panel.hidden ? open() : close(); });
  root.querySelector(".close").addEventListener("click", close);
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") close(); });
  if (outbox.length) open();               // a message was still on its way: finish it
})();
