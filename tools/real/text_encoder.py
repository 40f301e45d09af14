"""A CLIP text transformer with the export's input and output names (input_ids, attention_mask →
text_embeds, last_hidden_state, hidden_states.0 … hidden_states.N). Stable Cascade's is CLIP
ViT-bigG/14 (width 1280, 32 layers, 0.7 B); packs made here use its width with fewer layers, since
the text encoder is not what the real-size checks measure."""
import torch
import torch.nn as nn

from cascade_arch import LayerNorm


class ClipLayer(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = LayerNorm(d, affine=True, eps=1e-5)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln2 = LayerNorm(d, affine=True, eps=1e-5)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class ClipText(nn.Module):
    def __init__(self, vocab, width=1280, layers=2, heads=20, length=77, eos_id=None):
        super().__init__()
        self.tok = nn.Embedding(vocab, width)
        self.pos = nn.Parameter(torch.randn(length, width) * 0.01)
        self.layers = nn.ModuleList([ClipLayer(width, heads) for _ in range(layers)])
        self.final_ln = LayerNorm(width, affine=True, eps=1e-5)
        self.text_projection = nn.Linear(width, width, bias=False)
        self.register_buffer("causal", torch.full((length, length), float("-inf")).triu(1))

    def forward(self, input_ids, attention_mask):
        # attention_mask is part of the export's signature; CLIP's causal mask already hides padding
        # from the pooled (EOS) position, so it only has to reach the graph.
        x = self.tok(input_ids) + self.pos[: input_ids.size(1)] + 0 * attention_mask[..., None].float()
        hidden = [x]
        for layer in self.layers:
            x = layer(x, self.causal[: input_ids.size(1), : input_ids.size(1)])
            hidden.append(x)
        last = self.final_ln(x)
        eos = input_ids.argmax(dim=-1)
        pooled = last[torch.arange(last.size(0)), eos]
        return (self.text_projection(pooled), last, *hidden)
