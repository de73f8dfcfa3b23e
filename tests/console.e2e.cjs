// The console in a real headless Chromium, driven by playwright-core (installed by
// scripts/browser.sh). Usage:
//   NODE_PATH=<its node_modules> node tests/console.e2e.cjs <base url> <chromium> <screenshot dir>
// with CONSOLE_KEY (an admin key) and CONSOLE_CONVERSATION (a conversation to open) set.
// Signs in, opens the conversation, a flow graph, a knowledge search, the quality page (worst
// first, the distributions, the knowledge gap report) and its drill-down, and the playground; prints
// one JSON line with what it saw and leaves a screenshot of each page. The Rust test asserts.
const { chromium } = require("playwright-core"); // found through NODE_PATH

(async () => {
const [base, executablePath, shots] = process.argv.slice(2);
const key = process.env.CONSOLE_KEY;
const conversation = process.env.CONSOLE_CONVERSATION;
const browser = await chromium.launch({
  executablePath,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const seen = {};
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const text = async (selector) => (await page.locator(selector).allTextContents()).join("\n");

  // Signed out, the console shows only the sign-in form.
  const first = await page.goto(`${base}/console`);
  seen.signedOutStatus = first.status();
  seen.signedOutHasTable = (await page.locator("table").count()) > 0;
  await page.fill("#key", key);
  await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
  seen.afterSignIn = new URL(page.url()).pathname;
  await page.screenshot({ path: `${shots}/console-conversations.png`, fullPage: true });

  // The conversation that switched channels and escalated, from the list.
  await Promise.all([
    page.waitForNavigation(),
    page.click(`a[href="/console/conversations/${conversation}"]`),
  ]);
  await page.waitForSelector("#timeline li.event");
  seen.timelineChannels = await page.$$eval("#timeline .bubble.customer [data-channel]",
    (els) => els.map((e) => e.dataset.channel));
  seen.summary = await text(".handoff pre.summary-note");
  seen.escalation = await text("#timeline .escalation h3");
  await page.screenshot({ path: `${shots}/console-conversation.png`, fullPage: true });

  // A flow graph.
  await page.click("nav a[href='/console/flows']");
  await page.waitForSelector("table.flows");
  await Promise.all([page.waitForNavigation(), page.click("a[href='/console/flows/cancel_order']")]);
  await page.waitForSelector("svg.flowgraph");
  seen.flowSteps = await page.$$eval("svg.flowgraph g.node[data-step]", (els) => els.length);
  seen.flowEdges = await page.$$eval("svg.flowgraph .edge", (els) => els.length);
  const box = await page.locator("svg.flowgraph").boundingBox();
  seen.flowGraphHeight = box ? box.height : 0;
  await page.screenshot({ path: `${shots}/console-flow.png`, fullPage: true });

  // A knowledge search.
  await page.click("nav a[href='/console/knowledge']");
  await page.fill("input[name=q]", "How long does a refund take?");
  await Promise.all([page.waitForNavigation(), page.click("form.search button")]);
  await page.waitForSelector("#verdict");
  seen.verdict = await text("#verdict");
  seen.firstCitation = await page.locator("ol.passages li.passage cite").first().textContent();
  seen.articles = await page.locator("table.articles tbody tr").count();
  await page.screenshot({ path: `${shots}/console-knowledge.png`, fullPage: true });

  // Quality: the worst conversations first, the distributions, the gap report; then the worst
  // one's rubric on its own page.
  await page.click("nav a[href='/console/quality']");
  await page.waitForSelector("table.worst");
  seen.qualityScores = await page.$$eval("table.worst tbody tr", (rows) => rows.map((r) => r.dataset.score));
  seen.qualityMissed = await page.$$eval("table.worst tbody tr td.missed", (cells) => cells.map((c) => c.textContent.trim()));
  seen.qualityChannels = await page.$$eval("table.by-channel tbody tr", (rows) => rows.map((r) => r.dataset.group));
  seen.qualityTiers = await page.$$eval("table.by-tier tbody tr", (rows) => rows.map((r) => r.dataset.group));
  seen.gaps = await page.$$eval("ol.gaps li.gap", (items) => items.map((i) => i.textContent.replace(/\s+/g, " ").trim()));
  await page.screenshot({ path: `${shots}/console-quality.png`, fullPage: true });
  const rated = page.locator("table.worst tbody tr", { hasText: "survey" }).first().locator("a");
  await Promise.all([page.waitForNavigation(), rated.click()]);
  await page.waitForSelector("#quality table.rubric");
  seen.rubric = await page.$$eval("#quality table.rubric tr", (rows) =>
    rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent.trim()).slice(0, 2).join(": ")));
  seen.rubricScore = await text("#quality h2 .score");
  await page.screenshot({ path: `${shots}/console-quality-conversation.png`, fullPage: true });

  // The playground: as SMS, then as email; the decision panel follows each turn.
  await page.click("nav a[href='/console/try']");
  await page.waitForSelector("#say");
  async function say(channel, message) {
    await page.selectOption("#say select[name=channel]", channel);
    await page.fill("#text", message);
    await Promise.all([page.waitForNavigation(), page.click("#say button")]);
    await page.waitForSelector("#decision");
    return text("#decision");
  }
  seen.decisions = [
    await say("sms", "where is my order?"),
    await say("email", "ada.lovelace1000@example.com"),
  ];
  seen.transcriptChannels = await page.$$eval("#transcript [data-channel]",
    (els) => els.map((e) => e.dataset.channel));
  await page.screenshot({ path: `${shots}/console-playground.png`, fullPage: true });
} catch (e) {
  seen.error = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
})();
