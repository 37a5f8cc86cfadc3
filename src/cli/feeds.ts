// tally feed share|list|revoke, tally subscribe|subscriptions|unsubscribe: feeds this node shares and the feeds it
// pulls, in the store directly or through a running server (--url), as the other admin commands.

import type { Command } from "commander";
import { loadConfig } from "../config/config.js";
import { feedUrl } from "../feeds/capability.js";
import { feedJson, revokeFeed, shareFeed } from "../feeds/share-feed.js";
import { subscribe, subscriptionJson, unsubscribe } from "../feeds/subscribe.js";
import type { Run } from "./petname.js";
import { type RemoteFlags, remote, remoteOptions, withBackend } from "./remote.js";

interface JsonFlags extends RemoteFlags {
  json?: boolean;
}

interface ShareFlags extends JsonFlags {
  note?: string;
  servers?: string[];
  relay?: boolean;
  originOnly?: boolean;
  publicUrl?: string;
}

type FeedJson = ReturnType<typeof feedJson>;
type SubscriptionJson = ReturnType<typeof subscriptionJson>;

export async function feedShareCommand(flags: ShareFlags): Promise<number> {
  const spec = { note: flags.note ?? "", servers: flags.servers ?? [], relay: flags.relay === true };
  let feed: FeedJson;
  let url: string;
  if (flags.url) {
    const answer = await remote<{ feed: FeedJson; capability: string; url: string }>(flags, "POST", "/v1/feeds", spec);
    feed = answer.feed;
    url = flags.publicUrl ? feedUrl(flags.publicUrl, answer.capability) : answer.url;
  } else {
    const config = loadConfig(flags);
    const created = await withBackend(flags, ({ feeds }) => shareFeed(feeds, spec));
    feed = feedJson(created.feed);
    url = feedUrl(config.publicUrl ?? `http://${config.listen}`, created.capability);
  }
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ feed, url }, null, 2)}\n`);
  } else {
    process.stderr.write(`shared feed ${feed.id} (${feed.carries} events); its URL is shown this once:\n`);
    process.stdout.write(`${url}\n`);
  }
  return 0;
}

export async function feedListCommand(flags: JsonFlags): Promise<number> {
  const feeds = flags.url
    ? (await remote<{ feeds: FeedJson[] }>(flags, "GET", "/v1/feeds")).feeds
    : await withBackend(flags, async (b) => (await b.feeds.listFeeds()).map(feedJson));
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ feeds }, null, 2)}\n`);
    return 0;
  }
  table(
    ["ID", "CARRIES", "SERVERS", "CREATED", "REVOKED", "NOTE"],
    feeds.map((f) => [f.id, f.carries, f.servers?.join(",") ?? "all", day(f.createdAt), day(f.revokedAt), f.note]),
  );
  return 0;
}

export async function feedRevokeCommand(id: string, flags: JsonFlags): Promise<number> {
  const feed = flags.url
    ? (await remote<{ feed: FeedJson }>(flags, "DELETE", `/v1/feeds/${encodeURIComponent(id)}`)).feed
    : await withBackend(flags, async (b) => feedJson(await revokeFeed(b.feeds, id)));
  process.stdout.write(`revoked feed ${feed.id}; its URL no longer answers\n`);
  return 0;
}

export async function subscribeCommand(url: string, flags: JsonFlags & { name?: string }): Promise<number> {
  const created = flags.url
    ? (await remote<{ subscription: SubscriptionJson }>(flags, "POST", "/v1/subscriptions", { url, name: flags.name }))
        .subscription
    : await withBackend(flags, async (b) => subscriptionJson(await subscribe(b.feeds, { url, name: flags.name })));
  process.stdout.write(
    `subscribed to ${created.url} as ${created.name}${flags.url ? "" : "; tally serve pulls it when it runs"}\n`,
  );
  return 0;
}

export async function subscriptionsCommand(flags: JsonFlags): Promise<number> {
  const subscriptions = flags.url
    ? (await remote<{ subscriptions: SubscriptionJson[] }>(flags, "GET", "/v1/subscriptions")).subscriptions
    : await withBackend(flags, async (b) => (await b.feeds.listSubscriptions()).map((s) => subscriptionJson(s)));
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ subscriptions }, null, 2)}\n`);
    return 0;
  }
  table(
    ["NAME", "STATE", "LAG EVENTS", "LAG SECONDS", "LAST SUCCESS", "URL", "LAST ERROR"],
    subscriptions.map((s) => [
      s.name,
      s.state,
      s.lagEvents === null ? "-" : String(s.lagEvents),
      String(s.lagSeconds),
      day(s.lastSuccess),
      s.url,
      s.state === "failing" ? (s.lastError ?? "") : "",
    ]),
  );
  return 0;
}

export async function unsubscribeCommand(name: string, flags: JsonFlags): Promise<number> {
  if (flags.url) await remote(flags, "DELETE", `/v1/subscriptions/${encodeURIComponent(name)}`);
  else await withBackend(flags, (b) => unsubscribe(b.feeds, name));
  process.stdout.write(`unsubscribed ${name}; the events it brought stay\n`);
  return 0;
}

const day = (iso: string | null) => iso?.slice(0, 19).replace("T", " ") ?? "-";

function table(header: string[], rows: string[][]): void {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  for (const r of all)
    process.stdout.write(
      `${r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd()}\n`,
    );
}

/** Registers `tally feed …`, `tally subscribe`, `tally subscriptions` and `tally unsubscribe`. */
export function registerFeedCommands(program: Command, storeOptions: (cmd: Command) => Command, run: Run): void {
  const options = (cmd: Command) => remoteOptions(storeOptions(cmd)).option("--json", "print JSON");
  const feed = program
    .command("feed")
    .description("share this node's events with other nodes: subscription URLs, by capability")
    .addHelpText(
      "after",
      "\nWith SQLite these open the data directory directly, which fails while `tally serve` runs on it;\n" +
        "then pass --url http://HOST:PORT to go through the running server with the admin token.",
    );
  options(feed.command("share").description("create a feed and print its subscription URL, once"))
    .option("--note <text>", "a note for whoever lists the feeds")
    .option("--servers <server...>", "only the events of these servers (default every server)")
    .option("--origin-only", "only the events this node measured itself (the default)")
    .option("--relay", "also the events this node received from its own subscriptions (chains A → B → C)")
    .option("--public-url <url>", "the base URL subscribers reach this node at (TALLY_PUBLIC_URL)")
    .action(run(feedShareCommand));
  options(feed.command("list").description("list the feeds, without their capabilities")).action(run(feedListCommand));
  options(feed.command("revoke").description("revoke a feed by id; its URL stops answering at once"))
    .argument("<id>", "the feed id, like feed_0123456789abcdef")
    .action(run(feedRevokeCommand));

  options(program.command("subscribe").description("pull another node's feed into this node, continuously"))
    .argument("<url>", "the feed URL that `tally feed share` printed on the other node")
    .option("--name <name>", "what to call it (default the feed's host:port)")
    .action(run(subscribeCommand));
  options(program.command("subscriptions").description("list the subscriptions and their health")).action(
    run(subscriptionsCommand),
  );
  options(program.command("unsubscribe").description("stop pulling a feed; the events it brought stay"))
    .argument("<name>")
    .action(run(unsubscribeCommand));
}
