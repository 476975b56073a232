// Where things live under a node's runtime root: one layout for the services, the stages,
// the providers that make a node's folder, and the commands that read it.

/** Where things live under a node's runtime root. */
export function nodePaths(root: string) {
  return {
    venv: `${root}/venv`,
    python: `${root}/venv/bin/python`,
    etc: `${root}/etc`,
    tls: `${root}/tls`,
    logs: `${root}/logs`,
    /** What runs now and must be found again: the supervisor's pid files, chaos faults, the lab's marker. */
    run: `${root}/run`,
    work: `${root}/work`,
    /** The connection profile (dask.yaml) a Client() on this node reads through DASK_CONFIG. */
    clientProfile: `${root}/etc/client`,
    /** What `npm run data -- push` put there: $DVC_DATA. */
    data: `${root}/data`,
    /** One folder per `npm run submit` while it runs. */
    jobs: `${root}/jobs`,
    /** JupyterLab's own packages (node 1, `npm run notebook`), beside the runtime venv. */
    notebook: `${root}/notebook`,
    /** The folder JupyterLab shows (node 1). */
    notebooks: `${root}/notebooks`,
  };
}
