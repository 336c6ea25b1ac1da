import { verify } from "@octokit/webhooks-methods";
Deno.test("deno resolves npm packages from node_modules", async () => {
  const ok = await verify("s", "{}", "sha256=00");
  if (ok !== false) throw new Error("expected false");
});
