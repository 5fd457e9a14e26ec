// The linear layers a checkpoint's model offers adapters (what loadModel(dir).linearModules() lists), from config.json
// and the safetensors headers alone: `ual train --engine torch` draws LoRA's starting adapter without reading a weight
// (28 GB for a 7B model, which only the PyTorch worker needs).
import { CheckpointError } from '../errors.js';
import { configPath, readConfig, type ModelConfig } from './config.js';
import { GPT2_NAMING, gpt2Specs } from './gpt2.js';
import { llamaNaming, llamaSpecs } from './llama.js';
import { linearModulesOf, type LinearModule } from './model.js';
import { CheckpointTensors } from './safetensors.js';

/**
 * The model's config and linear modules, each checked against the checkpoint's header (present, with the shape
 * config.json implies); the tensors' bytes are never read. The other tensors are checked where the weights are loaded.
 */
export function checkpointLinearModules(dir: string): { config: ModelConfig; modules: LinearModule[] } {
  const config = readConfig(dir);
  const [specs, naming] = config.family === 'gpt2' ? [gpt2Specs(config), GPT2_NAMING] : [llamaSpecs(config), llamaNaming(config)];
  const ct = CheckpointTensors.open(dir);
  try {
    // canonical key -> stored name, as loadParams matches them: with or without the family's body prefix
    const stored = new Map<string, string>();
    for (const name of ct.entries.keys()) stored.set(name.startsWith(naming.prefix) ? name.slice(naming.prefix.length) : name, name);
    const want = new Map(specs.map((s) => [s.key, s.shape]));
    const modules = linearModulesOf(config, specs, (key) => {
      const name = stored.get(key);
      const expected = want.get(key)!;
      if (!name) throw new CheckpointError(`${ct.source}: missing tensor "${naming.prefix}${key}" (expected shape [${expected}])`, `${configPath(dir)} does not match these weights: use the config.json saved with them`);
      const shape = ct.entries.get(name)!.shape;
      if (shape.join() !== expected.join()) {
        throw new CheckpointError(`${ct.source}: tensor "${name}" has shape [${shape}], expected [${expected}] from ${configPath(dir)}`,
          `the weights and ${configPath(dir)} disagree: use the config.json saved with these weights`);
      }
      return name;
    });
    return { config, modules };
  } finally {
    ct.close();
  }
}
