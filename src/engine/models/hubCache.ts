// Finding a model by Hugging Face repo id in the local hub cache. Layout (huggingface_hub "Manage cache"):
// $HF_HUB_CACHE (default $HF_HOME/hub, HF_HOME default ~/.cache/huggingface) / models--{org}--{name} /
// refs/{revision} (a commit hash) and snapshots/{commit}/ (the files).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { builtinModelDir, isBuiltinModel } from './builtinModels';

export class ModelNotFoundError extends Error {
  override name = 'ModelNotFoundError';
}

export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  const home = env.HF_HOME ?? path.join(os.homedir(), '.cache', 'huggingface');
  return path.join(home, 'hub');
}

const REPO_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * `builtin:<name>` (builtinModels.ts), else a local folder as given, else `org/name[@revision]` resolved in the hub cache (revision: a ref such as `main`
 * or a commit hash; default `main`, else the only snapshot). Nothing is downloaded.
 */
export function resolveModelDir(spec: string, env: NodeJS.ProcessEnv = process.env): string {
  if (isBuiltinModel(spec)) {
    try {
      return builtinModelDir(spec);
    } catch (e) {
      throw new ModelNotFoundError(e instanceof Error ? e.message : String(e));
    }
  }
  if (fs.existsSync(spec)) {
    if (!fs.statSync(spec).isDirectory()) throw new ModelNotFoundError(`${spec}: not a folder (give the model folder that holds config.json)`);
    return spec;
  }
  const [repoId, revision] = spec.split('@', 2);
  if (!REPO_ID.test(repoId)) throw new ModelNotFoundError(`${spec}: no such folder, and not a Hugging Face repo id (org/name)`);
  const cache = hubCacheDir(env);
  const repoDir = path.join(cache, `models--${repoId.replace('/', '--')}`);
  const notCached = `${spec}: no such folder, and not in the Hugging Face cache ${repoDir}. Downloading is not ` +
    `available in this version: fetch it with \`huggingface-cli download ${repoId}\` (or git clone it) and pass the folder`;
  if (!fs.existsSync(repoDir)) throw new ModelNotFoundError(notCached);
  const snapshots = path.join(repoDir, 'snapshots');
  const available = fs.existsSync(snapshots) ? fs.readdirSync(snapshots) : [];
  const ref = revision ?? 'main';
  const refFile = path.join(repoDir, 'refs', ref);
  let commit: string | undefined;
  if (fs.existsSync(refFile)) commit = fs.readFileSync(refFile, 'utf8').trim();
  else if (available.includes(ref)) commit = ref;
  else if (revision === undefined && available.length === 1) commit = available[0];
  if (commit === undefined || !available.includes(commit)) {
    throw new ModelNotFoundError(`${spec}: revision '${ref}' not found in ${snapshots} (snapshots: ${available.join(', ') || 'none'})`);
  }
  return path.join(snapshots, commit);
}
