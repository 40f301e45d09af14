"""The tiny cascade: text encoder, Stage C (prior), Stage B (decoder), Stage A (4x autoencoder),
EffNet-like encoder (+ its throwaway decoder, exported as the previewer) and the noise schedule.

Written to trace cleanly into ONNX (opset 17): no data-dependent control flow, dynamic B/H/W.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------- schedule (CASCADE.md)
S_OFF = 0.008
M_COS = math.cos(S_OFF / (1 + S_OFF) * math.pi / 2) ** 2


def alpha_bar(t):
    return torch.clamp(torch.cos((t + S_OFF) / (1 + S_OFF) * math.pi / 2) ** 2 / M_COS, 1e-4, 0.9999)


def logsnr(t, shift=1.0):
    ab = alpha_bar(t)
    lam = torch.log(ab / (1 - ab)) - 2 * math.log(shift)
    return torch.clamp(lam, -9.2102, 9.2102)


def ab_r(t, shift=1.0):
    """-> (a, b, r): signal scale, noise scale, the model's timestep_ratio."""
    lam = logsnr(t, shift)
    a = torch.sigmoid(lam).sqrt()
    b = torch.sigmoid(-lam).sqrt()
    r = torch.acos(torch.clamp((torch.sigmoid(lam) * M_COS).sqrt(), -1.0, 1.0)) / (math.pi / 2) * (1 + S_OFF) - S_OFF
    return a, b, r


def eps_from_v(v, x, r):
    """The networks predict v internally (v = a*eps - b*x0) and return eps = a*v + b*x, with (a, b)
    recovered from timestep_ratio r through the unshifted cosine schedule (exact for any shift, since
    r is defined by that mapping). At low signal the output is then ~x by construction instead of
    having to reproduce x's scale through the input LayerNorm; the loss stays MSE on eps."""
    ab = alpha_bar(r)[:, None, None, None]
    return ab.sqrt() * v + (1 - ab).sqrt() * x


# ----------------------------------------------------------------------------- building blocks
class LayerNorm2d(nn.Module):
    def __init__(self, c, affine=True):
        super().__init__()
        self.ln = nn.LayerNorm(c, elementwise_affine=affine, eps=1e-6)

    def forward(self, x):
        return self.ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class GlobalResponseNorm(nn.Module):
    """ConvNeXt-V2 GRN on channels-last tensors."""

    def __init__(self, c):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, c))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, c))

    def forward(self, x):
        gx = torch.sqrt((x * x).sum(dim=(1, 2), keepdim=True) + 1e-12)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class ResBlock(nn.Module):
    def __init__(self, c, c_skip=0, kernel=3, expand=4):
        super().__init__()
        self.depthwise = nn.Conv2d(c, c, kernel, padding=kernel // 2, groups=c)
        self.norm = LayerNorm2d(c, affine=False)
        self.channelwise = nn.Sequential(
            nn.Linear(c + c_skip, c * expand), nn.GELU(), GlobalResponseNorm(c * expand), nn.Linear(c * expand, c))

    def forward(self, x, skip=None):
        res = x
        x = self.norm(self.depthwise(x))
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        x = self.channelwise(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return x + res


class TimestepBlock(nn.Module):
    def __init__(self, c, c_r):
        super().__init__()
        self.mapper = nn.Linear(c_r, c * 2)

    def forward(self, x, r_embed):
        ab = self.mapper(r_embed)[:, :, None, None]
        a, b = ab.chunk(2, dim=1)
        return x * (1 + a) + b


class Attention(nn.Module):
    def __init__(self, c, nhead):
        super().__init__()
        self.nhead = nhead
        self.q = nn.Linear(c, c)
        self.k = nn.Linear(c, c)
        self.v = nn.Linear(c, c)
        self.o = nn.Linear(c, c)

    def forward(self, x, kv):
        B, N, C = x.shape
        h = self.nhead
        q = self.q(x).reshape(B, -1, h, C // h).transpose(1, 2)
        k = self.k(kv).reshape(B, -1, h, C // h).transpose(1, 2)
        v = self.v(kv).reshape(B, -1, h, C // h).transpose(1, 2)
        w = torch.softmax(q @ k.transpose(-1, -2) * (1.0 / math.sqrt(C // h)), dim=-1)
        out = (w @ v).transpose(1, 2).reshape(B, -1, C)
        return self.o(out)


class AttnBlock(nn.Module):
    """Self-attention over [image tokens; condition tokens] (as Stable Cascade's AttnBlock)."""

    def __init__(self, c, c_cond, nhead):
        super().__init__()
        self.norm = LayerNorm2d(c, affine=False)
        self.attention = Attention(c, nhead)
        self.kv_mapper = nn.Sequential(nn.SiLU(), nn.Linear(c_cond, c))

    def forward(self, x, cond):
        B, C, H, W = x.shape
        kv = self.kv_mapper(cond)
        xn = self.norm(x).flatten(2).transpose(1, 2)
        kv = torch.cat([xn, kv], dim=1)
        out = self.attention(xn, kv)
        return x + out.transpose(1, 2).reshape(x.shape)


def r_embedding(r, c_r=64, max_positions=10000):
    r = r * max_positions
    half = c_r // 2
    emb = math.log(max_positions) / (half - 1)
    freqs = torch.exp(torch.arange(half, device=r.device, dtype=torch.float32) * -emb)
    e = r[:, None].float() * freqs[None, :]
    return torch.cat([e.sin(), e.cos()], dim=1)


# ----------------------------------------------------------------------------- text encoder
class TextLayer(nn.Module):
    def __init__(self, d, nhead):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = Attention(d, nhead)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.nhead = nhead

    def forward(self, x, bias):
        B, N, C = x.shape
        h = self.nhead
        xn = self.ln1(x)
        a = self.attn
        q = a.q(xn).reshape(B, -1, h, C // h).transpose(1, 2)
        k = a.k(xn).reshape(B, -1, h, C // h).transpose(1, 2)
        v = a.v(xn).reshape(B, -1, h, C // h).transpose(1, 2)
        w = torch.softmax(q @ k.transpose(-1, -2) * (1.0 / math.sqrt(C // h)) + bias, dim=-1)
        x = x + a.o((w @ v).transpose(1, 2).reshape(B, -1, C))
        return x + self.mlp(self.ln2(x))


class TextEncoder(nn.Module):
    """CLIP-like causal text transformer. Pooled output taken at the EOS (= highest id) position."""

    def __init__(self, vocab_size, d=128, layers=3, nhead=4, max_len=77):
        super().__init__()
        self.d = d
        self.n_layers = layers
        self.token_embedding = nn.Embedding(vocab_size, d)
        self.position_embedding = nn.Parameter(torch.randn(max_len, d) * 0.02)
        self.layers = nn.ModuleList([TextLayer(d, nhead) for _ in range(layers)])
        self.final_ln = nn.LayerNorm(d)
        self.text_projection = nn.Linear(d, d, bias=False)

    def forward(self, input_ids, attention_mask):
        S = input_ids.shape[1]
        x = self.token_embedding(input_ids) + self.position_embedding[:S][None]
        idx = torch.arange(S, device=input_ids.device)
        causal = (idx[None, :] > idx[:, None]).float() * -1e4
        pad = (1.0 - attention_mask.float())[:, None, None, :] * -1e4
        bias = causal[None, None] + pad
        hs = [x]
        for layer in self.layers:
            x = layer(x, bias)
            hs.append(x)
        last = self.final_ln(x)
        eos = input_ids.argmax(dim=-1)
        sel = (idx[None, :] == eos[:, None]).float()
        pooled = (last * sel[:, :, None]).sum(dim=1)
        return self.text_projection(pooled), last, hs


class ParseHeads(nn.Module):
    """Training-only: predicts the scene from the pooled embedding (keeps the encoder factorised)."""

    def __init__(self, d, n_bg, n_pos, n_col, n_shape):
        super().__init__()
        self.n_pos, self.n_col, self.n_shape = n_pos, n_col, n_shape
        self.bg = nn.Linear(d, n_bg)
        self.col = nn.Linear(d, n_pos * n_col)
        self.shape = nn.Linear(d, n_pos * n_shape)

    def forward(self, pooled):
        B = pooled.shape[0]
        return self.bg(pooled), self.col(pooled).view(B, self.n_pos, self.n_col), \
            self.shape(pooled).view(B, self.n_pos, self.n_shape)


# ----------------------------------------------------------------------------- Stage C
IMG_GRID_CHANNELS = 12  # TinyClipVision's values per cell: 9 colour shares and the mean RGB
IMG_SPATIAL_WIDTH = 96


class StageC(nn.Module):
    """img_layout: the image embeddings (summed over clip_img's tokens) also map straight to the coarse
    layout, as the pooled text does (zero-initialised, no bias: zero embeddings change nothing).
    img_pooled: the image embeddings (summed over clip_img's tokens) also map, through a small MLP
    without biases (zero embeddings add nothing), onto what a caption adds to the pooled text: the
    pooled text feeds the modulation, the pooled tokens and the layout, so an image prompt then
    conditions Stage C the way its scene's caption would. Fitted by regression (finetune.py
    fit_image_pooled), not through the diffusion loss.
    img_spatial: the image embedding read as the picture it describes (TinyClipVision's 12 values per
    cell of an 8x8 grid), through small convolutions without biases, added before every ResBlock: the
    image's colours stay where they are, which the pooled paths (one vector) cannot say for two objects.
    Trained against the frozen prior through the diffusion loss (finetune.py --image-spatial).
    control_blocks: the ResBlocks (0-based, in walking order) that take a ControlNet feature map,
    exported as the extra inputs control_0, control_1, ... (added before the block; zeros = none)."""

    def __init__(self, c_in=16, c=160, depth=6, nhead=4, c_text=128, c_r=64, c_clip_img=768, pooled_tokens=2, layout_c=16,
                 img_layout=False, img_pooled=False, img_spatial=False, control_blocks=()):
        super().__init__()
        self.c, self.c_r, self.pooled_tokens = c, c_r, pooled_tokens
        self.clip_txt_mapper = nn.Linear(c_text, c)
        self.clip_txt_pooled_mapper = nn.Linear(c_text, c * pooled_tokens)
        self.clip_img_mapper = nn.Linear(c_clip_img, c)
        self.clip_norm = nn.LayerNorm(c, elementwise_affine=False, eps=1e-6)
        self.embedding = nn.Sequential(nn.Conv2d(c_in, c, 1), LayerNorm2d(c))
        # learned position embedding at the 64-px grid, resized to other latent sizes
        self.pos_embed = nn.Parameter(torch.randn(1, c, 8, 8) * 0.1)
        # the pooled text joins r in the modulation (as the real model's TimestepBlock takes extra conds)
        self.pooled_r_mapper = nn.Linear(c_text, c_r)
        # the pooled text also maps straight to a coarse layout at the 64-px grid (zero-initialised): the
        # caption names where each object goes, and this path lets the prior learn placement quickly
        # instead of only through attention from learned positions to position words
        self.layout_mapper = nn.Linear(c_text, layout_c * 8 * 8)
        self.layout_proj = nn.Conv2d(layout_c, c, 1)
        nn.init.zeros_(self.layout_proj.weight)
        nn.init.zeros_(self.layout_proj.bias)
        self.layout_c = layout_c
        self.img_layout = img_layout
        if img_layout:
            self.img_layout_mapper = nn.Linear(c_clip_img, layout_c * 8 * 8, bias=False)
            nn.init.zeros_(self.img_layout_mapper.weight)
        self.img_pooled = img_pooled
        if img_pooled:
            self.img_pooled_mapper = nn.Sequential(nn.Linear(c_clip_img, 256, bias=False), nn.GELU(), nn.Linear(256, 256, bias=False),
                                                   nn.GELU(), nn.Linear(256, c_text, bias=False))
            nn.init.zeros_(self.img_pooled_mapper[4].weight)
        self.img_spatial = img_spatial
        if img_spatial:
            w = IMG_SPATIAL_WIDTH
            self.img_spatial_in = nn.Sequential(nn.Conv2d(IMG_GRID_CHANNELS, w, 3, padding=1, bias=False), nn.GELU(),
                                                nn.Conv2d(w, w, 3, padding=1, bias=False), nn.GELU())
            # small, not zero: a zero embedding gives zero features whatever these weights are, and
            # non-zero heads let the convolutions before them learn from the first step
            self.img_spatial_heads = nn.ModuleList(nn.Conv2d(w, c, 1, bias=False) for _ in range(depth))
            for h in self.img_spatial_heads:
                nn.init.normal_(h.weight, std=1e-3)
        self.control_blocks = tuple(control_blocks)
        self.blocks = nn.ModuleList()
        for _ in range(depth):
            self.blocks.append(ResBlock(c))
            self.blocks.append(TimestepBlock(c, c_r * 2))
            self.blocks.append(AttnBlock(c, c, nhead))
        self.clf = nn.Sequential(LayerNorm2d(c), nn.Conv2d(c, c_in, 1))
        nn.init.zeros_(self.clf[1].weight)
        nn.init.zeros_(self.clf[1].bias)

    def forward(self, sample, timestep_ratio, clip_text_pooled, clip_text, clip_img, *control):
        B = sample.shape[0]
        r_embed = r_embedding(timestep_ratio, self.c_r)
        if self.img_pooled:
            clip_text_pooled = clip_text_pooled + self.img_pooled_mapper(clip_img.sum(1))[:, None]
        clip = torch.cat([
            self.clip_txt_mapper(clip_text),
            self.clip_txt_pooled_mapper(clip_text_pooled).reshape(B, -1, self.c),
            self.clip_img_mapper(clip_img),
        ], dim=1)
        clip = self.clip_norm(clip)
        r_embed = torch.cat([r_embed, self.pooled_r_mapper(clip_text_pooled[:, 0])], dim=1)
        x = self.embedding(sample)
        x = x + F.interpolate(self.pos_embed, size=x.shape[-2:], mode="bilinear", align_corners=False)
        layout = self.layout_mapper(clip_text_pooled[:, 0]).reshape(B, self.layout_c, 8, 8)
        if self.img_layout:
            layout = layout + self.img_layout_mapper(clip_img.sum(1)).reshape(B, self.layout_c, 8, 8)
        x = x + self.layout_proj(F.interpolate(layout, size=x.shape[-2:], mode="bilinear", align_corners=False))
        spatial = None
        if self.img_spatial:
            grid = clip_img.sum(1).reshape(B, IMG_GRID_CHANNELS, 8, 8)
            spatial = self.img_spatial_in(F.interpolate(grid, size=x.shape[-2:], mode="bilinear", align_corners=False))
        res_i = 0
        for blk in self.blocks:
            if isinstance(blk, ResBlock):
                if res_i in self.control_blocks and control:
                    feat = control[self.control_blocks.index(res_i)]
                    x = x + F.interpolate(feat, size=x.shape[-2:], mode="bilinear", align_corners=True)
                if spatial is not None:
                    x = x + self.img_spatial_heads[res_i](spatial)
                res_i += 1
                x = blk(x)
            elif isinstance(blk, TimestepBlock):
                x = blk(x, r_embed)
            else:
                x = blk(x, clip)
        return eps_from_v(self.clf(x), sample, timestep_ratio)


# ----------------------------------------------------------------------------- image prompts, ControlNets
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class TinyClipVision(nn.Module):
    """Stands in for CLIP ViT-L/14's image encoder (the public export's vae_encoder/): a CLIP-normalised
    224x224 image -> image_embeds [B,768]: on an 8x8 grid of the image, how much of each cell each of
    the world's 9 colours covers (each pixel softly assigned to its nearest palette colour), 576
    values, then each cell's mean colour (x2 - 1), 192 values. Fixed, not trained (as the patch-PCA
    encoders stand in for EffNet): like CLIP's embedding it names what is where in words of the
    world (which colour, which region), so Stage C can read it linearly."""

    def __init__(self, tau=0.01):
        super().__init__()
        from data import BACKGROUNDS, COLORS
        palette = [COLORS[c] for c in COLORS] + [BACKGROUNDS["gray"]]
        self.register_buffer("palette", torch.tensor(palette, dtype=torch.float32).view(1, -1, 3, 1, 1) / 255.0)
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1))
        self.tau = tau

    def forward(self, sample):
        x = sample * self.std + self.mean
        d2 = ((x[:, None] - self.palette) ** 2).sum(2)
        share = F.adaptive_avg_pool2d(torch.softmax(-d2 / self.tau, dim=1), 8)
        rgb = F.adaptive_avg_pool2d(x, 8) * 2 - 1
        tokens = torch.cat([share, rgb], dim=1)
        return tokens.flatten(1), tokens.flatten(2).transpose(1, 2)


def clip_vision_input(images):
    """images [B,3,H,W] in [0,1] -> the encoder's input (bilinear to 224, CLIP-normalised)."""
    x = F.interpolate(images, size=(224, 224), mode="bilinear", align_corners=False)
    return (x - torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(CLIP_STD).view(1, 3, 1, 1)


class ControlNet(nn.Module):
    """The official form in miniature: a feature extractor over the control image (first layer sized to
    the filter's channels) down to Stage C's latent grid (1/8), then per chosen Stage C block a
    projection (1x1 conv, LeakyReLU 0.2, 1x1 conv to Stage C's width, zero-initialised)."""

    def __init__(self, c_in, c_out=160, w=96, n_out=5, blocks=2):
        super().__init__()
        self.body = nn.Sequential(nn.PixelUnshuffle(8), nn.Conv2d(c_in * 64, w, 3, padding=1),
                                  *[ResConv(w) for _ in range(blocks)], nn.GELU())
        self.heads = nn.ModuleList()
        for _ in range(n_out):
            last = nn.Conv2d(w, c_out, 1)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            self.heads.append(nn.Sequential(nn.Conv2d(w, w, 1), nn.LeakyReLU(0.2), last))

    def forward(self, control_image):
        f = self.body(control_image)
        return tuple(h(f) for h in self.heads)


# ----------------------------------------------------------------------------- Stage B
class StageB(nn.Module):
    def __init__(self, c_in=4, c1=96, c2=192, n1=2, n2=3, nhead=4, c_text=128, c_eff=16, c_r=64, pooled_tokens=4):
        super().__init__()
        self.c2, self.c_r = c2, c_r
        self.effnet_mapper = nn.Sequential(nn.Conv2d(c_eff, c1 * 4, 1), nn.GELU(), nn.Conv2d(c1 * 4, c1, 1), LayerNorm2d(c1))
        self.effnet_mapper2 = nn.Sequential(nn.Conv2d(c_eff, c2, 1), LayerNorm2d(c2))
        self.clip_mapper = nn.Linear(c_text, c2 * pooled_tokens)
        self.clip_norm = nn.LayerNorm(c2, elementwise_affine=False, eps=1e-6)
        self.embedding = nn.Sequential(nn.Conv2d(c_in, c1, 1), LayerNorm2d(c1))
        self.down1 = nn.ModuleList()
        for _ in range(n1):
            self.down1.append(ResBlock(c1))
            self.down1.append(TimestepBlock(c1, c_r))
        self.downscale = nn.Sequential(LayerNorm2d(c1), nn.Conv2d(c1, c2, 2, stride=2))
        self.mid = nn.ModuleList()
        for _ in range(n2):
            self.mid.append(ResBlock(c2))
            self.mid.append(TimestepBlock(c2, c_r))
            self.mid.append(AttnBlock(c2, c2, nhead))
        self.upscale = nn.Sequential(LayerNorm2d(c2), nn.ConvTranspose2d(c2, c1, 2, stride=2))
        self.up1 = nn.ModuleList()
        for i in range(n1):
            self.up1.append(ResBlock(c1, c_skip=c1 if i == 0 else 0))
            self.up1.append(TimestepBlock(c1, c_r))
        self.clf = nn.Sequential(LayerNorm2d(c1), nn.Conv2d(c1, c_in, 1))
        nn.init.zeros_(self.clf[1].weight)
        nn.init.zeros_(self.clf[1].bias)

    def forward(self, sample, timestep_ratio, clip_text_pooled, effnet):
        B = sample.shape[0]
        r_embed = r_embedding(timestep_ratio, self.c_r)
        clip = self.clip_norm(self.clip_mapper(clip_text_pooled).reshape(B, -1, self.c2))
        x = self.embedding(sample)
        x = x + F.interpolate(self.effnet_mapper(effnet), size=x.shape[-2:], mode="bilinear", align_corners=True)
        for blk in self.down1:
            x = blk(x) if isinstance(blk, ResBlock) else blk(x, r_embed)
        skip = x
        x = self.downscale(x)
        x = x + F.interpolate(self.effnet_mapper2(effnet), size=x.shape[-2:], mode="bilinear", align_corners=True)
        for blk in self.mid:
            if isinstance(blk, ResBlock):
                x = blk(x)
            elif isinstance(blk, TimestepBlock):
                x = blk(x, r_embed)
            else:
                x = blk(x, clip)
        x = self.upscale(x)
        first = True
        for blk in self.up1:
            if isinstance(blk, ResBlock):
                x = blk(x, skip if first else None)
                first = False
            else:
                x = blk(x, r_embed)
        return eps_from_v(self.clf(x), sample, timestep_ratio)


# ----------------------------------------------------------------------------- conv autoencoders
class ResConv(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1 = nn.Conv2d(c, c, 3, padding=1)
        self.c2 = nn.Conv2d(c, c, 3, padding=1)
        nn.init.zeros_(self.c2.weight)
        nn.init.zeros_(self.c2.bias)

    def forward(self, x):
        return x + self.c2(F.gelu(self.c1(F.gelu(x))))


class Up(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class StageAEncoder(nn.Module):
    """4x encoder: pixel-unshuffle to the latent grid, then residual convs at 1/4."""

    def __init__(self, c_lat=4, w=128, blocks=2):
        super().__init__()
        self.net = nn.Sequential(
            nn.PixelUnshuffle(4), nn.Conv2d(48, w, 3, padding=1), *[ResConv(w) for _ in range(blocks)],
            nn.GELU(), nn.Conv2d(w, c_lat, 1))

    def forward(self, x):
        return self.net(x * 2 - 1)


class StageADecoder(nn.Module):
    """4x decoder: residual convs at 1/4, sub-pixel (pixel-shuffle) upsampling keeps edges sharp."""

    def __init__(self, c_lat=4, w=128, blocks=2, w2=32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(c_lat, w, 3, padding=1), *[ResConv(w) for _ in range(blocks)],
            nn.GELU(), nn.Conv2d(w, w2 * 4, 3, padding=1), nn.PixelShuffle(2), ResConv(w2),
            nn.GELU(), nn.Conv2d(w2, 12, 3, padding=1), nn.PixelShuffle(2))

    def forward(self, z):
        return self.net(z) * 0.5 + 0.5


class EffNetEncoder(nn.Module):
    """image [0,1] -> 16-ch latent at 1/8, normalised by a non-affine BatchNorm."""

    def __init__(self, c_lat=16, w=128, blocks=2):
        super().__init__()
        self.net = nn.Sequential(
            nn.PixelUnshuffle(4), nn.Conv2d(48, w // 2, 3, padding=1), ResConv(w // 2),
            nn.Conv2d(w // 2, w, 2, stride=2), *[ResConv(w) for _ in range(blocks)],
            nn.GELU(), nn.Conv2d(w, c_lat, 1))
        self.norm = nn.BatchNorm2d(c_lat, affine=False, momentum=0.01)

    def forward(self, x):
        return self.norm(self.net(x * 2 - 1))


class EffNetDecoder(nn.Module):
    """Throwaway decoder of the EffNet autoencoder; exported as the previewer."""

    def __init__(self, c_lat=16, w=128, blocks=2):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(c_lat, w, 3, padding=1), *[ResConv(w) for _ in range(blocks)],
            nn.GELU(), nn.Conv2d(w, w // 2 * 4, 3, padding=1), nn.PixelShuffle(2), ResConv(w // 2),
            nn.GELU(), nn.Conv2d(w // 2, 48, 3, padding=1), nn.PixelShuffle(4))

    def forward(self, z):
        return self.net(z) * 0.5 + 0.5


def n_params(m):
    return sum(p.numel() for p in m.parameters())


# ----------------------------------------------------------------------------- fixed patch-PCA encoders
class PatchPCAEncoder(nn.Module):
    """A k x k, stride-k convolution onto the top principal components of the image's k x k patches,
    whitened and multiplied by out_std: a fixed linear encoder (EffNet stand-in / Stage A encoder).
    Fitted from data (fit_patch_pca), not trained."""

    def __init__(self, c_lat=16, k=8, out_std=1.0):
        super().__init__()
        self.k = k
        self.out_std = out_std
        self.conv = nn.Conv2d(3, c_lat, k, stride=k)
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x):
        return self.conv(x)


class PatchPCADecoder(nn.Module):
    """The PCA encoder's linear inverse (a stride-k transposed convolution): the Stage C previewer."""

    def __init__(self, c_lat=16, k=8):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(c_lat, 3, k, stride=k)

    def forward(self, z):
        return self.deconv(z)


@torch.no_grad()
def fit_patch_pca(images, enc, dec=None):
    """images [N,3,H,W] in [0,1] -> sets enc (and dec) weights."""
    k, c = enc.k, enc.conv.out_channels
    p = F.unfold(images.double(), k, stride=k)  # [N, 3*k*k, L]
    X = p.permute(0, 2, 1).reshape(-1, p.shape[1])
    mean = X.mean(0)
    Xc = X - mean
    cov = Xc.T @ Xc / Xc.shape[0]
    evals, evecs = torch.linalg.eigh(cov)
    order = torch.argsort(evals, descending=True)[:c]
    comps = evecs[:, order].T  # [c, 3kk]
    std = evals[order].clamp_min(1e-12).sqrt()
    # fix the sign of each component so that it correlates positively with brightness
    sign = torch.sign(comps.sum(1))
    sign[sign == 0] = 1
    comps = comps * sign[:, None]
    W = comps / std[:, None] * enc.out_std
    enc.conv.weight.copy_(W.view(c, 3, k, k).float())
    enc.conv.bias.copy_((-(W @ mean)).float())
    if dec is not None:
        # x ~ mean + comps^T (z * std / out_std)
        Wd = (comps * std[:, None] / enc.out_std).view(c, 3, k, k)
        dec.deconv.weight.copy_(Wd.float())
        dec.deconv.bias.copy_(mean.view(3, k, k).mean((1, 2)).float())
    explained = float(evals[order].sum() / evals.sum())
    return explained
