// Validates syndicate's MJML templates with the official MJML 5 at validationLevel "strict".
// mjml-python (MRML), which renders the email at run time, does not validate: this is the check.
//
//   node tools/mjml-validate/validate.mjs            renders the templates with the sample edition
//                                                    (through dump_mjml.py and the project's venv)
//   node tools/mjml-validate/validate.mjs DIR        validates the .mjml files already in DIR
//
// Exits 1 on any validation error, 2 when there is nothing to validate or the dump failed.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import mjml2html from "mjml";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..", "..");

function mjmlFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return mjmlFiles(path);
    return name.endsWith(".mjml") ? [path] : [];
  });
}

let dir = process.argv[2];
if (!dir) {
  dir = mkdtempSync(join(tmpdir(), "syndicate-mjml-"));
  const python = process.env.PYTHON || join(repo, ".venv", "bin", "python");
  try {
    execFileSync(python, [join(here, "dump_mjml.py"), dir], { cwd: repo, stdio: ["ignore", "ignore", "inherit"] });
  } catch (error) {
    console.error(`could not render the templates with ${python}: ${error.message}`);
    process.exit(2);
  }
}

const files = mjmlFiles(dir);
if (files.length === 0) {
  console.error(`no .mjml files in ${dir}`);
  process.exit(2);
}

let failed = 0;
for (const file of files) {
  try {
    const result = await mjml2html(readFileSync(file, "utf8"), {
      validationLevel: "strict",
      filePath: file,
    });
    const errors = result.errors || [];
    if (errors.length) throw Object.assign(new Error("validation errors"), { details: errors });
    console.log(`ok   ${file}`);
  } catch (error) {
    failed += 1;
    console.error(`FAIL ${file}`);
    for (const detail of error.details || [{ formattedMessage: error.message }]) {
      console.error(`     ${detail.formattedMessage || detail.message || JSON.stringify(detail)}`);
    }
  }
}
process.exit(failed ? 1 : 0);
