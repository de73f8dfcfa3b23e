// The web chat in a real headless Chromium, driven by playwright-core (installed by
// scripts/browser.sh). Usage: NODE_PATH=<its node_modules> node tests/webchat.e2e.cjs <base url> <chromium> <screenshot dir>
// Types a question and waits for the streamed answer, then runs a flow to its end; prints one
// JSON line with what it saw, and leaves screenshots. The Rust test asserts on that line.
const { chromium } = require("playwright-core"); // found through NODE_PATH

(async () => {
const [base, executablePath, shots] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const seen = { replies: [], tokens: 0 };
try {
  const page = await browser.newPage();
  await page.goto(`${base}/chat`);
  await page.waitForSelector("#frontline-chat input");

  // Send a message; wait for the reply (its `message` event closes the streamed bubble).
  async function say(text) {
    const before = await page.locator("#frontline-chat li.agent.done").count();
    await page.fill("#frontline-chat input", text);
    await page.click("#frontline-chat button");
    await page.waitForFunction(
      (n) => document.querySelectorAll("#frontline-chat li.agent.done").length > n,
      before,
      { timeout: 30000 },
    );
    const bubble = page.locator("#frontline-chat li.agent.done").nth(before);
    const reply = await bubble.textContent();
    seen.replies.push(reply);
    // The links in it (an answer's source), as the customer can click them.
    seen.links = (seen.links || []).concat(await bubble.locator("a").evaluateAll(
      (anchors) => anchors.map((a) => ({ href: a.href, text: a.textContent, target: a.target }))));
    return reply;
  }

  // The one-time code an email in `maildir` carries, once it arrives (up to 30 s).
  async function codeIn(maildir) {
    const fs = require("fs");
    for (let waited = 0; waited < 30000; waited += 250) {
      const files = fs.existsSync(maildir) ? fs.readdirSync(maildir) : [];
      for (const f of files) {
        const m = fs.readFileSync(`${maildir}/${f}`, "utf8").match(/code is (\d{6})/);
        if (m) return m[1];
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`no code arrived in ${maildir}`);
  }

  // Each step is text to type, or {code_in: maildir}: the code that mail brought.
  for (const step of JSON.parse(process.env.WEBCHAT_SCRIPT)) {
    await say(typeof step === "string" ? step : await codeIn(step.code_in));
  }
  seen.tokens = Number(await page.locator("#frontline-chat").getAttribute("data-tokens"));
  await page.screenshot({ path: `${shots}/webchat.png`, fullPage: true });

  // The resolution survey: its question with a rating strip under it; a tap answers it, and
  // the effort question follows with a strip of its own.
  const done = "#frontline-chat li.agent.done";
  await page.waitForSelector("#frontline-chat li.choices button", { timeout: 30000 });
  seen.strip = await page.locator("#frontline-chat li.choices button").allTextContents();
  const asked = await page.locator(done).count();
  seen.survey = await page.locator(done).nth(asked - 1).textContent();
  await page.screenshot({ path: `${shots}/webchat-survey.png`, fullPage: true });
  await page.click('#frontline-chat li.choices button[data-choice="csat:5"]');
  await page.waitForFunction((n) => document.querySelectorAll("#frontline-chat li.agent.done").length > n, asked, { timeout: 30000 });
  seen.tapped = await page.locator("#frontline-chat li.customer").last().textContent();
  seen.after_tap = await page.locator(done).nth(asked).textContent();
  await page.waitForSelector('#frontline-chat li.choices button[data-choice="effort:1"]', { timeout: 30000 });
} catch (e) {
  seen.error = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
})();
