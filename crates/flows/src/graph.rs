//! A flow as a graph: its steps as nodes and every way the engine can move between them as
//! edges (next step, branch taken or not, confirmation refused, action failed, jumps). Built
//! from the compiled program, so what is drawn is what runs; the console renders it.

use crate::compile::{CompiledFlow, Op};

/// What a step does, for drawing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// Asks for a slot.
    Collect,
    /// Calls a backend action.
    Action,
    /// Computes slots.
    Set,
    /// Tests a condition.
    Branch,
    /// Says something.
    Respond,
    /// Asks yes or no.
    Confirm,
    /// Runs another flow and comes back.
    Call,
    /// Proves the account is the customer's own.
    Verify,
    /// Hands over to another flow for good.
    Link,
    /// Hands the conversation to a person.
    Escalate,
    /// Ends the flow.
    End,
}

impl NodeKind {
    /// The step keyword as written in the YAML.
    pub fn keyword(self) -> &'static str {
        match self {
            NodeKind::Collect => "collect",
            NodeKind::Action => "action",
            NodeKind::Set => "set",
            NodeKind::Branch => "if",
            NodeKind::Respond => "respond",
            NodeKind::Confirm => "confirm",
            NodeKind::Call => "call",
            NodeKind::Verify => "verify",
            NodeKind::Link => "link",
            NodeKind::Escalate => "escalate",
            NodeKind::End => "end",
        }
    }
}

/// One step.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The step id (as in coverage reports and `FlowUpdated.ran`).
    pub id: String,
    /// What it does.
    pub kind: NodeKind,
    /// Its detail: the slot, action, condition, response, flow or outcome.
    pub detail: String,
    /// Line of the step in the flow file.
    pub line: usize,
}

/// Why the engine moves along an edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeKind {
    /// The next step.
    Next,
    /// A condition held.
    Then,
    /// A condition did not hold.
    Else,
    /// The customer said no to a confirmation.
    No,
    /// An action failed (after its retries).
    Error,
}

impl EdgeKind {
    /// A short label (empty for `Next`).
    pub fn label(self) -> &'static str {
        match self {
            EdgeKind::Next => "",
            EdgeKind::Then => "yes",
            EdgeKind::Else => "else",
            EdgeKind::No => "no",
            EdgeKind::Error => "error",
        }
    }
}

/// A move between two steps, by their index in [`FlowGraph::nodes`]. `to` is `None` when the
/// flow runs off its end (which ends it resolved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    /// From this node.
    pub from: usize,
    /// To this node, or off the end.
    pub to: Option<usize>,
    /// Why.
    pub kind: EdgeKind,
}

/// A flow's steps and moves.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowGraph {
    /// The steps in program order (the jumps the compiler adds are folded into edges).
    pub nodes: Vec<Node>,
    /// The moves.
    pub edges: Vec<Edge>,
}

impl FlowGraph {
    /// The graph of a compiled flow.
    pub fn of(flow: &CompiledFlow) -> FlowGraph {
        let program = &flow.program;
        // Instruction index → node index, jumps resolved to where they land.
        let mut node_of: Vec<Option<usize>> = vec![None; program.len()];
        let mut nodes = vec![];
        for (i, instr) in program.iter().enumerate() {
            let (kind, detail) = match &instr.op {
                Op::Jump { .. } => continue,
                Op::Collect { slot } => (NodeKind::Collect, slot.clone()),
                Op::Action { name, .. } => (NodeKind::Action, name.clone()),
                Op::Set { assignments } => (
                    NodeKind::Set,
                    assignments
                        .iter()
                        .map(|(slot, _)| slot.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                Op::Branch { condition, .. } => (NodeKind::Branch, condition.source().to_string()),
                Op::Respond { response } => (NodeKind::Respond, response.clone()),
                Op::Confirm { response, .. } => (NodeKind::Confirm, response.clone()),
                Op::Call { flow } => (NodeKind::Call, flow.clone()),
                Op::Verify { account } => (NodeKind::Verify, account.source().to_string()),
                Op::Link { flow } => (NodeKind::Link, flow.clone()),
                Op::Escalate { queue, .. } => {
                    (NodeKind::Escalate, queue.clone().unwrap_or_default())
                }
                Op::End { outcome } => (NodeKind::End, format!("{outcome:?}").to_lowercase()),
            };
            node_of[i] = Some(nodes.len());
            nodes.push(Node {
                id: instr.id.clone(),
                kind,
                detail,
                line: instr.position.line,
            });
        }
        // Where control lands when it goes to instruction `i`: follow jumps (a cycle of bare
        // jumps cannot be compiled, but stop anyway after as many hops as there are steps).
        let land = |mut i: usize| -> Option<usize> {
            for _ in 0..=program.len() {
                match program.get(i) {
                    None => return None,
                    Some(instr) => match &instr.op {
                        Op::Jump { target } => i = *target,
                        _ => return node_of[i],
                    },
                }
            }
            None
        };
        let mut edges = vec![];
        for (i, instr) in program.iter().enumerate() {
            let Some(from) = node_of[i] else { continue };
            let mut edge = |to: usize, kind| {
                edges.push(Edge {
                    from,
                    to: land(to),
                    kind,
                })
            };
            match &instr.op {
                Op::Branch { otherwise, .. } => {
                    edge(i + 1, EdgeKind::Then);
                    edge(*otherwise, EdgeKind::Else);
                }
                Op::Confirm { on_no, .. } => {
                    edge(i + 1, EdgeKind::Next);
                    if let Some(no) = on_no {
                        edge(*no, EdgeKind::No);
                    }
                }
                Op::Action { on_error, .. } => {
                    edge(i + 1, EdgeKind::Next);
                    if let Some(error) = on_error {
                        edge(*error, EdgeKind::Error);
                    }
                }
                Op::End { .. } | Op::Link { .. } | Op::Escalate { .. } | Op::Jump { .. } => {}
                _ => edge(i + 1, EdgeKind::Next),
            }
        }
        FlowGraph { nodes, edges }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FlowSet;

    fn flow(yaml: &str) -> std::sync::Arc<CompiledFlow> {
        let source = crate::parse_flow(std::path::Path::new("t.yaml"), yaml).expect("parses");
        let catalog = [frontline_domain::ActionSpec {
            name: "lookup".into(),
            kind: frontline_domain::ActionKind::Read,
            description: "look an order up".into(),
            required_args: vec!["order_id".into()],
            owner_only: false,
        }];
        let set = FlowSet::build(vec![source], &catalog).unwrap_or_else(|e| panic!("{e:?}"));
        set.get("t").expect("the flow").clone()
    }

    #[test]
    fn branches_confirmations_and_errors_become_labelled_edges() {
        let f = flow(
            r##"
id: t
description: test
tier: transactional
slots:
  order_id: {type: string, prompt: "Which order?"}
responses:
  sure: "Cancel {order_id}?"
  done: "Done."
  big: "Big one."
steps:
  - id: ask
    collect: order_id
  - id: check
    if: order_id == "#W1"
    then:
      - id: tell
        respond: big
    else:
      - id: sure
        confirm: sure
  - id: act
    action: lookup
    args: {order_id: "{order_id}"}
    on_error:
      - id: human
        escalate: {reason: "failed"}
  - id: done
    respond: done
"##,
        );
        let g = FlowGraph::of(&f);
        let ids: Vec<&str> = g.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(
            ids,
            ["ask", "check", "tell", "sure", "act", "human", "done"]
        );
        let at = |id: &str| ids.iter().position(|i| *i == id).unwrap();
        let has = |from: &str, to: Option<&str>, kind| {
            g.edges.contains(&Edge {
                from: at(from),
                to: to.map(at),
                kind,
            })
        };
        assert!(has("ask", Some("check"), EdgeKind::Next));
        assert!(has("check", Some("tell"), EdgeKind::Then));
        assert!(has("check", Some("sure"), EdgeKind::Else));
        // The `then` block jumps over the `else` block: the jump is folded into the edge.
        assert!(has("tell", Some("act"), EdgeKind::Next), "{:?}", g.edges);
        assert!(has("act", Some("human"), EdgeKind::Error));
        assert!(has("done", None, EdgeKind::Next), "running off the end");
        assert!(
            !g.edges.iter().any(|e| e.from == at("human")),
            "escalate ends the flow"
        );
        assert_eq!(g.nodes[at("check")].kind, NodeKind::Branch);
        assert_eq!(g.nodes[at("check")].detail, "order_id == \"#W1\"");
        assert_eq!(g.nodes[at("ask")].line, 12);
    }
}
