// How `npm run benchmark` hands svd-ratings its matrix and reports the bench's failures:
// a file is found from the folder npm ran in (spaces and accents included), node-side
// sources pass through, and the bench's exit 2 (a ratings file that is not one) stays an
// exit 2 that names the user's own file, not the copy sent to node 1.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { benchFailure } from "../provision/bench/run.js";
import { svdMatrixArg } from "../provision/commands/benchmark.js";

const tmp = mkdtempSync(path.join(os.tmpdir(), "dvc-bench-run-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("--svd-matrix", () => {
  it("resolves a file from the folder npm ran in", () => {
    const cwd = path.join(tmp, "Cours Dask é");
    mkdirSync(cwd, { recursive: true });
    writeFileSync(path.join(cwd, "ratings.csv"), "userId,movieId,rating\n1,2,3\n");
    expect(svdMatrixArg("ratings.csv", cwd)).toEqual({ file: path.join(cwd, "ratings.csv") });
  });

  it("passes data: and generated: through to the nodes", () => {
    expect(svdMatrixArg("data:movielens/ratings.csv", tmp)).toEqual({ source: "data:movielens/ratings.csv" });
    expect(svdMatrixArg("generated:ml-32m", tmp)).toEqual({ source: "generated:ml-32m" });
  });

  it("refuses a path that is not a file, exit 2, with the three forms it takes", () => {
    for (const bad of ["nowhere.csv", "."]) {
      let caught: unknown;
      try {
        svdMatrixArg(bad, tmp);
      } catch (err) {
        caught = err;
      }
      expect(caught).toMatchObject({ exitCode: 2 });
      const text = JSON.stringify(caught);
      expect(text).toContain("--svd-matrix");
      expect(text).toContain("data:NAME/FILE");
      expect(text).toContain("generated:ml-32m");
    }
  });
});

describe("benchFailure", () => {
  const sent = "/home/u/.cluster/node1/incoming/my ratings.csv";
  const mine = "/home/u/Cours Dask/my ratings.csv";

  it("keeps the bench's exit 2 and names the user's file, with the ratings format", () => {
    const event = {
      event: "error",
      exitCode: 2,
      message: `--svd-matrix ${sent} line 3, column 3 (rating): 'four' is not a number; a ratings file holds userId,movieId,rating[,timestamp]`,
    };
    const err = benchFailure(new Error("exit 2"), event, 1200, "node1", { from: sent, to: mine });
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe(
      `the benchmark refused its input: --svd-matrix ${mine} line 3, column 3 (rating): 'four' is not a number; a ratings file holds userId,movieId,rating[,timestamp]`,
    );
    expect(err.problems[0]).toMatchObject({ path: "--svd-matrix" });
    expect(err.problems[0]!.fix).toContain("userId,movieId,rating[,timestamp]");
    expect(JSON.stringify(err)).not.toContain("npm run status");
  });

  it("reports any other failure as the cluster's, exit 1, with where to look", () => {
    const event = { event: "error", exitCode: 1, message: "lost the connection to the scheduler" };
    const err = benchFailure(new Error("exit 1"), event, 61_000, "node1");
    expect(err.exitCode).toBe(1);
    expect(err.message).toBe("the benchmark failed after 61 s");
    expect(err.problems[0]).toMatchObject({ path: "node1", message: "lost the connection to the scheduler" });
    expect(err.problems[0]!.fix).toContain("npm run status");
  });
});
