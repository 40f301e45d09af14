// The checks every request and socket.io handshake passes before any route sees it, against
// attacks carried by a browser: a page on another site that posts to the studio (Origin), a
// hostile name resolved to the loopback address (DNS rebinding, Host), and, off loopback, anyone
// on the network (a token, as Jupyter does).
//
// - Host must be a loopback name (localhost, 127.0.0.1, [::1]) or the host the server was started
//   on, or one named in allowedHosts. Bound to every address (0.0.0.0, ::) any name is accepted:
//   the token, required there, is what keeps strangers out.
// - State-changing requests (POST, PUT, PATCH, DELETE) and socket.io handshakes carry the studio's
//   own Origin (the scheme and the Host they were sent to), one of allowedOrigins, or none at all
//   (curl, the CLI, scripts). A browser always sends Origin on those from another site.
// - With a token, every request and handshake carries it: `Authorization: Bearer <token>`, a cookie
//   set when a page was opened with `?token=<token>`, or that query parameter itself.
// Refusals: 403 for Host and Origin, 401 for the token, each with a message; nothing runs.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { NextFunction, Request, Response } from "express";

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "::1"]);
const WILDCARD_HOSTS = new Set(["0.0.0.0", "::", ""]);
const STATE_CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const COOKIE_PREFIX = "sluice_token_";

export interface SecurityOptions {
  /** The address the server listens on, as given to --host. */
  host: string;
  /** Required on every request when set. */
  token?: string;
  /** Further names a request's Host may carry (a proxy's name). */
  allowedHosts?: string[];
  /** Further origins allowed to change state (a development server on another port). */
  allowedOrigins?: string[];
}

export interface Refusal { status: 401 | 403; message: string }

/** True for a name or address that only this machine reaches. */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return LOOPBACK_NAMES.has(name) || /^127\.\d+\.\d+\.\d+$/.test(name);
}

/** True when listening on `host` needs a token: anything but a loopback address. */
export function needsToken(host: string): boolean {
  return !isLoopbackHost(host);
}

/** A fresh token: 24 random bytes in hex. */
export function generateToken(): string {
  return randomBytes(24).toString("hex");
}

/** The host name of a Host header without its port ("[::1]:8788" → "::1"). */
function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith("[")) return h.slice(1, h.indexOf("]") > 0 ? h.indexOf("]") : undefined);
  const colon = h.lastIndexOf(":");
  return colon >= 0 && h.indexOf(":") === colon ? h.slice(0, colon) : h;
}

function sameSecret(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

function cookieValues(header: string | undefined): string[] {
  if (!header) return [];
  const values: string[] = [];
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim().startsWith(COOKIE_PREFIX)) {
      try { values.push(decodeURIComponent(part.slice(eq + 1).trim())); } catch { /* not ours */ }
    }
  }
  return values;
}

function queryToken(url: string | undefined): string | undefined {
  if (!url || !url.includes("token=")) return undefined;
  try {
    return new URL(url, "http://x").searchParams.get("token") ?? undefined;
  } catch {
    return undefined;
  }
}

export class Security {
  constructor(private readonly options: SecurityOptions) {}

  get token(): string | undefined { return this.options.token; }

  /** The cookie that keeps the token for a browser (named per token so several studios on one host do not clash). */
  cookieFor(token: string): string {
    const name = COOKIE_PREFIX + createHash("sha256").update(token).digest("hex").slice(0, 8);
    return `${name}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict`;
  }

  private hostAllowed(name: string): boolean {
    if (WILDCARD_HOSTS.has(this.options.host)) return true;
    if (isLoopbackHost(name)) return true;
    const configured = this.options.host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
    return name === configured || (this.options.allowedHosts ?? []).some((h) => h.toLowerCase() === name);
  }

  /**
   * The refusal for a request, or undefined when it may go on. `changesState` is true for
   * POST/PUT/PATCH/DELETE and for socket.io handshakes.
   */
  check(req: IncomingMessage, changesState: boolean): Refusal | undefined {
    const host = req.headers.host;
    if (host !== undefined && !this.hostAllowed(hostName(host))) {
      return { status: 403, message: `refused: the Host "${host}" is not this studio's (use localhost or 127.0.0.1, or start the server with --host for the name you use)` };
    }
    const origin = req.headers.origin;
    if (changesState && origin !== undefined) {
      const own = host !== undefined && (origin === `http://${host}` || origin === `https://${host}`);
      if (!own && !(this.options.allowedOrigins ?? []).includes(origin)) {
        return { status: 403, message: `refused: requests from the page "${origin}" may not change this studio (only the studio's own pages, or clients that send no Origin, may)` };
      }
    }
    const expected = this.options.token;
    if (expected !== undefined) {
      const auth = req.headers.authorization;
      const bearer = auth?.toLowerCase().startsWith("bearer ") ? auth.slice(7).trim() : undefined;
      const candidates = [bearer, ...cookieValues(req.headers.cookie), queryToken(req.url)].filter((t): t is string => !!t);
      if (!candidates.some((t) => sameSecret(t, expected))) {
        return { status: 401, message: candidates.length ? "refused: the token is wrong" : "refused: this studio needs its token (open the address printed at start, with ?token=, or send Authorization: Bearer <token>)" };
      }
    }
    return undefined;
  }

  /** Express middleware: refuses as check() says; a valid ?token= also sets the cookie. */
  middleware() {
    return (req: Request, res: Response, next: NextFunction): void => {
      const refusal = this.check(req, STATE_CHANGING.has(req.method));
      if (refusal) {
        res.status(refusal.status).json({ error: refusal.message });
        return;
      }
      const fromQuery = queryToken(req.url);
      if (this.options.token !== undefined && fromQuery !== undefined && sameSecret(fromQuery, this.options.token)) {
        res.append("Set-Cookie", this.cookieFor(this.options.token));
      }
      next();
    };
  }

  /** socket.io's allowRequest: every handshake request (polling or websocket) is checked as state-changing. */
  allowRequest() {
    return (req: IncomingMessage, callback: (err: string | null | undefined, success: boolean) => void): void => {
      const refusal = this.check(req, true);
      callback(refusal ? refusal.message : null, !refusal);
    };
  }
}
