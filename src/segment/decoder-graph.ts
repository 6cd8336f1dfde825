import { readFile } from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { cachedGraph } from './graph-cache.js';
import { ModelError } from './models.js';

const { onnx } = onnxProto;

/**
 * SAM's standard ONNX export with return_single_mask=True (segment_anything's
 * SamOnnxModel.select_masks) computes all four mask tokens, then keeps one:
 *
 *   scores   = iou_head(...)                          [B, 4]
 *   best     = ArgMax(scores + (num_points - 2.5) * [1000, 0, 0, 0])
 *   masks    = Gather(Flatten(all_masks), best ...)   [B, 1, 256, 256]
 *
 * We add the pre-selection tensors as graph outputs (weights untouched), so a
 * single click can choose among the three multimask candidates itself, and we
 * drop the full-resolution `masks` output: upscaling is done in TypeScript
 * only for the mask that is kept (see postprocess.ts), and nodes that only
 * served it are pruned.
 */

export const MULTIMASK_LOGITS = 'multimask_low_res_masks'; // [B, 4, 256, 256]
export const MULTIMASK_SCORES = 'multimask_iou_predictions'; // [B, 4]
/** Bump when the edit changes, so cached files from an older edit are not reused. */
const EDIT_VERSION = 1;

type Graph = onnxProto.onnx.IGraphProto;
type Node = onnxProto.onnx.INodeProto;

// protobufjs marks every field optional; repeated fields are always present once decoded.
const inputs = (node: Node): string[] => node.input ?? [];
const outputs = (node: Node): string[] => node.output ?? [];
const nodes = (graph: Graph): Node[] => graph.node ?? [];

function producerOf(graph: Graph): Map<string, Node> {
  const producers = new Map<string, Node>();
  for (const node of nodes(graph)) for (const out of outputs(node)) producers.set(out, node);
  return producers;
}

function consumersOf(graph: Graph, tensor: string): Node[] {
  return nodes(graph).filter((n) => inputs(n).includes(tensor));
}

/** Finds the tensors holding all four candidates' logits and scores. */
export function findMultimaskTensors(graph: Graph): { logits: string; scores: string } {
  const argMaxes = nodes(graph).filter((n) => n.opType === 'ArgMax');
  if (argMaxes.length !== 1) {
    throw new ModelError(`decoder graph has ${argMaxes.length} ArgMax nodes; expected SAM's single mask selection`);
  }
  const producers = producerOf(graph);
  const reweighted = producers.get(inputs(argMaxes[0])[0]);
  if (!reweighted || reweighted.opType !== 'Add') {
    throw new ModelError('decoder graph: the mask selection does not add a score reweighting as SAM exports do');
  }
  // Of the Add's inputs, the raw scores are the one the graph also flattens (to gather the chosen score).
  const flattenInput = (t: string) => consumersOf(graph, t).some((n) => n.opType === 'Flatten');
  const scores = inputs(reweighted).find(flattenInput);
  if (!scores) throw new ModelError('decoder graph: cannot find the IoU scores of the four mask tokens');
  // The logits are the other tensor that is flattened and gathered by the chosen index.
  const logitFlatten = nodes(graph).find(
    (n) => n.opType === 'Flatten' && inputs(n)[0] !== scores && consumersOf(graph, outputs(n)[0]).some((c) => c.opType === 'Gather'),
  );
  if (!logitFlatten) throw new ModelError('decoder graph: cannot find the logits of the four mask tokens');
  return { logits: inputs(logitFlatten)[0], scores };
}

/** Removes nodes and initializers that no graph output depends on. */
function pruneDeadNodes(graph: Graph): void {
  const producers = producerOf(graph);
  const needed = new Set<string>();
  const stack = (graph.output ?? []).map((o) => o.name as string);
  const liveNodes = new Set<Node>();
  while (stack.length) {
    const tensor = stack.pop()!;
    if (needed.has(tensor)) continue;
    needed.add(tensor);
    const node = producers.get(tensor);
    if (node && !liveNodes.has(node)) {
      liveNodes.add(node);
      for (const input of inputs(node)) if (input) stack.push(input);
    }
  }
  graph.node = nodes(graph).filter((n) => liveNodes.has(n));
  graph.initializer = (graph.initializer ?? []).filter((t) => needed.has(t.name as string));
}

/** Applies the edit to a serialized decoder and returns the new bytes. */
export function exposeMultimaskOutputs(modelBytes: Uint8Array): Uint8Array {
  const model = onnx.ModelProto.decode(modelBytes);
  const graph = model.graph as Graph;
  if (!graph.node || !graph.output) throw new ModelError('decoder file holds no graph');
  const { logits, scores } = findMultimaskTensors(graph);
  graph.node.push(
    onnx.NodeProto.create({ opType: 'Identity', name: 'clipmask/multimask_logits', input: [logits], output: [MULTIMASK_LOGITS] }),
    onnx.NodeProto.create({ opType: 'Identity', name: 'clipmask/multimask_scores', input: [scores], output: [MULTIMASK_SCORES] }),
  );
  graph.output = graph.output.filter((o) => o.name !== 'masks');
  graph.output.push(
    onnx.ValueInfoProto.create({ name: MULTIMASK_LOGITS }),
    onnx.ValueInfoProto.create({ name: MULTIMASK_SCORES }),
  );
  pruneDeadNodes(graph);
  return onnx.ModelProto.encode(model).finish();
}

/** Returns the path of the edited decoder, creating it in `cacheDir` on first use. */
export async function prepareDecoder(decoderPath: string, decoderSha256: string, cacheDir: string): Promise<string> {
  const target = path.join(cacheDir, `decoder-${decoderSha256.slice(0, 16)}-multimask-v${EDIT_VERSION}.onnx`);
  return cachedGraph(target, async () => exposeMultimaskOutputs(await readFile(decoderPath)));
}
