/**
 * Which operating-system user runs the embedded server. PostgreSQL refuses to
 * run as root, and a server sharing root's powers would defeat the point of a
 * separate process anyway: as root, zenmesh runs it as a dedicated system user
 * (`zenmesh-pg`, created with `useradd` when it can be, otherwise `nobody`),
 * which can read nothing of the data dir but its own `pg` directory. As any
 * other user, the server runs as that user.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { ZenError } from "../../core/index.ts";

export const SERVER_USER = "zenmesh-pg";

export interface ServerUser {
  name: string;
  uid: number;
  gid: number;
  /** True when the server runs under another uid than zenmesh (zenmesh is root). */
  switched: boolean;
}

/** Where users are looked up and made; tests point them elsewhere. */
export interface UserSystem {
  /** This process's uid (default: the real one). */
  uid?: number;
  passwdFile?: string;
  useradd?: string;
}

function lookup(name: string, passwdFile: string): { uid: number; gid: number } | undefined {
  let passwd: string;
  try {
    passwd = readFileSync(passwdFile, "utf8");
  } catch {
    return undefined;
  }
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f[0] === name && f.length >= 4) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

export function serverUser(sys: UserSystem = {}): ServerUser {
  const uid = sys.uid ?? process.getuid?.() ?? 0;
  const passwd = sys.passwdFile ?? "/etc/passwd";
  if (uid !== 0) {
    return { name: String(uid), uid, gid: process.getgid?.() ?? uid, switched: false };
  }
  let u = lookup(SERVER_USER, passwd);
  if (u === undefined) {
    // A concurrent start may create it first: useradd then fails, and the second lookup finds it.
    spawnSync(
      sys.useradd ?? "useradd",
      [
        "--system",
        "--user-group",
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        "/usr/sbin/nologin",
        SERVER_USER,
      ],
      { stdio: "ignore" },
    );
    u = lookup(SERVER_USER, passwd);
  }
  if (u !== undefined && u.uid !== 0) return { name: SERVER_USER, ...u, switched: true };
  const nobody = lookup("nobody", passwd);
  if (nobody !== undefined && nobody.uid !== 0) return { name: "nobody", ...nobody, switched: true };
  throw new ZenError("EMBEDDED_DB_FAILED", {
    message: `running as root, and neither the user ${SERVER_USER} (useradd failed) nor nobody exists to run the embedded database as`,
  });
}
