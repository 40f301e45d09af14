"""The Stable Cascade networks (Stage C, Stage B, Stage A's decoder, the EffNet encoder, the
previewer), written from the published architecture, for exports with random weights.

Every layer normalisation goes through `layer_norm` below, which always passes an explicit weight
and bias: torch 1.13 exports a LayerNorm without affine parameters as a LayerNormalization node with
empty Scale/Bias inputs (refused by ONNX Runtime), and a LayerNormalization with a Scale and no Bias
crashes ONNX Runtime 1.30 while the session is created. Non-affine norms keep ones/zeros buffers.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm(nn.Module):
    """LayerNorm over the last dimension; without affine parameters it keeps ones/zeros buffers so
    the exported node always has both Scale and Bias."""

    def __init__(self, c, affine=False, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.c = c
        if affine:
            self.weight = nn.Parameter(torch.ones(c))
            self.bias = nn.Parameter(torch.zeros(c))
        else:
            self.register_buffer("weight", torch.ones(c))
            self.register_buffer("bias", torch.zeros(c))

    def forward(self, x):
        return F.layer_norm(x, (self.c,), self.weight, self.bias, self.eps)


class LayerNorm2d(LayerNorm):
    """LayerNorm over channels of an NCHW tensor."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class GlobalResponseNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))

    def forward(self, x):
        gx = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class ResBlock(nn.Module):
    """Depthwise conv, channel LayerNorm, then a channelwise MLP (with the skip concatenated)."""

    def __init__(self, c, c_skip=0, kernel_size=3):
        super().__init__()
        self.depthwise = nn.Conv2d(c, c, kernel_size=kernel_size, padding=kernel_size // 2, groups=c)
        self.norm = LayerNorm2d(c)
        self.channelwise = nn.Sequential(
            nn.Linear(c + c_skip, c * 4), nn.GELU(), GlobalResponseNorm(c * 4), nn.Dropout(0.0), nn.Linear(c * 4, c))

    def forward(self, x, x_skip=None):
        x_res = x
        x = self.norm(self.depthwise(x))
        if x_skip is not None:
            x = torch.cat([x, x_skip], dim=1)
        x = self.channelwise(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return x + x_res


class Attention2D(nn.Module):
    def __init__(self, c, nhead):
        super().__init__()
        self.attn = nn.MultiheadAttention(c, nhead, bias=True, batch_first=True)

    def forward(self, x, kv, self_attn=False):
        shape = x.shape
        x = x.view(x.size(0), x.size(1), -1).permute(0, 2, 1)
        if self_attn:
            kv = torch.cat([x, kv], dim=1)
        x = self.attn(x, kv, kv, need_weights=False)[0]
        return x.permute(0, 2, 1).view(*shape)


class AttnBlock(nn.Module):
    def __init__(self, c, c_cond, nhead, self_attn=True):
        super().__init__()
        self.self_attn = self_attn
        self.norm = LayerNorm2d(c)
        self.attention = Attention2D(c, nhead)
        self.kv_mapper = nn.Sequential(nn.SiLU(), nn.Linear(c_cond, c))

    def forward(self, x, kv):
        kv = self.kv_mapper(kv)
        return x + self.attention(self.norm(x), kv, self_attn=self.self_attn)


class TimestepBlock(nn.Module):
    def __init__(self, c, c_timestep, conds=("sca",)):
        super().__init__()
        self.mapper = nn.Linear(c_timestep, c * 2)
        self.conds = list(conds)
        for name in self.conds:
            setattr(self, f"mapper_{name}", nn.Linear(c_timestep, c * 2))

    def forward(self, x, t):
        t = t.chunk(len(self.conds) + 1, dim=1)
        a, b = self.mapper(t[0])[:, :, None, None].chunk(2, dim=1)
        for i, name in enumerate(self.conds):
            ac, bc = getattr(self, f"mapper_{name}")(t[i + 1])[:, :, None, None].chunk(2, dim=1)
            a, b = a + ac, b + bc
        return x * (1 + a) + b


class UpDownBlock2d(nn.Module):
    def __init__(self, c_in, c_out, mode, enabled=True):
        super().__init__()
        interpolation = nn.Upsample(scale_factor=2 if mode == "up" else 0.5, mode="bilinear", align_corners=True) if enabled else nn.Identity()
        mapping = nn.Conv2d(c_in, c_out, kernel_size=1)
        self.blocks = nn.ModuleList([interpolation, mapping] if mode == "up" else [mapping, interpolation])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


def r_embedding(r, c_r, max_positions=10000):
    r = r * max_positions
    half = c_r // 2
    emb = math.log(max_positions) / (half - 1)
    emb = torch.arange(half, device=r.device).float().mul(-emb).exp()
    emb = r[:, None] * emb[None, :]
    return torch.cat([emb.sin(), emb.cos()], dim=1)


class UNet(nn.Module):
    """The down/up walk Stage C and Stage B share: levels of C(ResBlock)/T(TimestepBlock)/A(AttnBlock)
    blocks, optional repeat mappers, skips from the down path into the first block of each up level."""

    def _block(self, kind, c, nhead, c_skip=0):
        if kind == "C":
            return ResBlock(c, c_skip, kernel_size=self.kernel_size)
        if kind == "A":
            return AttnBlock(c, self.c_cond, nhead, self_attn=True)
        if kind == "T":
            return TimestepBlock(c, self.c_r, conds=self.t_conds)
        raise ValueError(kind)

    def _build_levels(self, c_hidden, nhead, blocks, block_repeat, level_config, down, up):
        # Each level: a scaler (into the level going down, out of it going up), its blocks, and
        # 1x1 repeat mappers between repeated passes over the same blocks.
        self.down_downscalers = nn.ModuleList()
        self.down_blocks = nn.ModuleList()
        self.down_repeat_mappers = nn.ModuleList()
        for i in range(len(c_hidden)):
            self.down_downscalers.append(nn.Sequential(LayerNorm2d(c_hidden[i - 1]), down(c_hidden[i - 1], c_hidden[i])) if i > 0 else nn.Identity())
            level = nn.ModuleList()
            for _ in range(blocks[0][i]):
                for kind in level_config[i]:
                    level.append(self._block(kind, c_hidden[i], nhead[i]))
            self.down_blocks.append(level)
            self.down_repeat_mappers.append(nn.ModuleList([nn.Conv2d(c_hidden[i], c_hidden[i], kernel_size=1) for _ in range(block_repeat[0][i] - 1)]))
        self.up_upscalers = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        self.up_repeat_mappers = nn.ModuleList()
        for i in reversed(range(len(c_hidden))):
            self.up_upscalers.append(nn.Sequential(LayerNorm2d(c_hidden[i]), up(c_hidden[i], c_hidden[i - 1])) if i > 0 else nn.Identity())
            level = nn.ModuleList()
            for j in range(blocks[1][::-1][i]):
                for k, kind in enumerate(level_config[i]):
                    c_skip = c_hidden[i] if i < len(c_hidden) - 1 and j == k == 0 else 0
                    level.append(self._block(kind, c_hidden[i], nhead[i], c_skip=c_skip))
            self.up_blocks.append(level)
            self.up_repeat_mappers.append(nn.ModuleList([nn.Conv2d(c_hidden[i], c_hidden[i], kernel_size=1) for _ in range(block_repeat[1][::-1][i] - 1)]))
        depth = sum(blocks[0])
        for level in list(self.down_blocks) + list(self.up_blocks):
            for block in level:
                if isinstance(block, ResBlock):
                    block.channelwise[-1].weight.data *= math.sqrt(1 / depth)

    def _run_block(self, block, x, r_embed, clip, skip=None):
        if isinstance(block, ResBlock):
            return block(x, skip)
        if isinstance(block, AttnBlock):
            return block(x, clip)
        if isinstance(block, TimestepBlock):
            return block(x, r_embed)
        return block(x)

    def _down_encode(self, x, r_embed, clip):
        outputs = []
        for scaler, level, repmap in zip(self.down_downscalers, self.down_blocks, self.down_repeat_mappers):
            x = scaler(x)
            for i in range(len(repmap) + 1):
                for block in level:
                    x = self._run_block(block, x, r_embed, clip)
                if i < len(repmap):
                    x = repmap[i](x)
            outputs.insert(0, x)
        return outputs

    def _up_decode(self, outputs, r_embed, clip):
        x = outputs[0]
        for i, (level, scaler, repmap) in enumerate(zip(self.up_blocks, self.up_upscalers, self.up_repeat_mappers)):
            for j in range(len(repmap) + 1):
                for k, block in enumerate(level):
                    skip = None
                    if isinstance(block, ResBlock):
                        skip = outputs[i] if k == 0 and i > 0 else None
                        if skip is not None and (x.size(-1) != skip.size(-1) or x.size(-2) != skip.size(-2)):
                            x = F.interpolate(x, skip.shape[-2:], mode="bilinear", align_corners=True)
                    x = self._run_block(block, x, r_embed, clip, skip)
                if j < len(repmap):
                    x = repmap[j](x)
            x = scaler(x)
        return x

    def _r_embed(self, r):
        emb = r_embedding(r, self.c_r)
        # The extra timestep conditions of the original (sca, crp) are fixed at zero in the export.
        for _ in self.t_conds:
            emb = torch.cat([emb, r_embedding(torch.zeros_like(r), self.c_r)], dim=1)
        return emb


class StageC(UNet):
    def __init__(self, c_in=16, c_out=16, c_r=64, patch_size=1, c_cond=2048, c_hidden=(2048, 2048), nhead=(32, 32),
                 blocks=((8, 24), (24, 8)), block_repeat=((1, 1), (1, 1)), level_config=("CTA", "CTA"),
                 c_clip_text=1280, c_clip_text_pooled=1280, c_clip_img=768, c_clip_seq=4, kernel_size=3, t_conds=("sca", "crp")):
        super().__init__()
        self.c_r, self.c_cond, self.c_clip_seq, self.kernel_size, self.t_conds = c_r, c_cond, c_clip_seq, kernel_size, list(t_conds)
        self.clip_txt_mapper = nn.Linear(c_clip_text, c_cond)
        self.clip_txt_pooled_mapper = nn.Linear(c_clip_text_pooled, c_cond * c_clip_seq)
        self.clip_img_mapper = nn.Linear(c_clip_img, c_cond * c_clip_seq)
        self.clip_norm = LayerNorm(c_cond)
        self.embedding = nn.Sequential(nn.PixelUnshuffle(patch_size), nn.Conv2d(c_in * patch_size ** 2, c_hidden[0], kernel_size=1), LayerNorm2d(c_hidden[0]))
        # Levels keep their resolution (the release's switch_level is off): 1x1 convs between them.
        self._build_levels(c_hidden, nhead, blocks, block_repeat, level_config,
                           down=lambda a, b: UpDownBlock2d(a, b, "down", enabled=False),
                           up=lambda a, b: UpDownBlock2d(a, b, "up", enabled=False))
        self.clf = nn.Sequential(LayerNorm2d(c_hidden[0]), nn.Conv2d(c_hidden[0], c_out * patch_size ** 2, kernel_size=1), nn.PixelShuffle(patch_size))

    def forward(self, sample, timestep_ratio, clip_text_pooled, clip_text, clip_img):
        r_embed = self._r_embed(timestep_ratio)
        b = clip_text.size(0)
        txt = self.clip_txt_mapper(clip_text)
        pooled = self.clip_txt_pooled_mapper(clip_text_pooled).view(b, clip_text_pooled.size(1) * self.c_clip_seq, -1)
        img = self.clip_img_mapper(clip_img).view(b, clip_img.size(1) * self.c_clip_seq, -1)
        clip = self.clip_norm(torch.cat([txt, pooled, img], dim=1))
        x = self.embedding(sample)
        x = self._up_decode(self._down_encode(x, r_embed, clip), r_embed, clip)
        return self.clf(x)


class StageB(UNet):
    def __init__(self, c_in=4, c_out=4, c_r=64, patch_size=2, c_cond=1280, c_hidden=(320, 640, 1280, 1280), nhead=(-1, -1, 20, 20),
                 blocks=((2, 6, 28, 6), (6, 28, 6, 2)), block_repeat=((1, 1, 1, 1), (3, 3, 2, 2)), level_config=("CT", "CT", "CTA", "CTA"),
                 c_clip=1280, c_clip_seq=4, c_effnet=16, c_pixels=3, kernel_size=3, t_conds=("sca",)):
        super().__init__()
        self.c_r, self.c_cond, self.c_clip_seq, self.kernel_size, self.t_conds = c_r, c_cond, c_clip_seq, kernel_size, list(t_conds)
        self.effnet_mapper = nn.Sequential(nn.Conv2d(c_effnet, c_hidden[0] * 4, kernel_size=1), nn.GELU(), nn.Conv2d(c_hidden[0] * 4, c_hidden[0], kernel_size=1), LayerNorm2d(c_hidden[0]))
        self.pixels_mapper = nn.Sequential(nn.Conv2d(c_pixels, c_hidden[0] * 4, kernel_size=1), nn.GELU(), nn.Conv2d(c_hidden[0] * 4, c_hidden[0], kernel_size=1), LayerNorm2d(c_hidden[0]))
        self.clip_mapper = nn.Linear(c_clip, c_cond * c_clip_seq)
        self.clip_norm = LayerNorm(c_cond)
        self.embedding = nn.Sequential(nn.PixelUnshuffle(patch_size), nn.Conv2d(c_in * patch_size ** 2, c_hidden[0], kernel_size=1), LayerNorm2d(c_hidden[0]))
        self._build_levels(c_hidden, nhead, blocks, block_repeat, level_config,
                           down=lambda a, b: nn.Conv2d(a, b, kernel_size=2, stride=2),
                           up=lambda a, b: nn.ConvTranspose2d(a, b, kernel_size=2, stride=2))
        self.clf = nn.Sequential(LayerNorm2d(c_hidden[0]), nn.Conv2d(c_hidden[0], c_out * patch_size ** 2, kernel_size=1), nn.PixelShuffle(patch_size))

    def forward(self, sample, timestep_ratio, clip_text_pooled, effnet):
        r_embed = self._r_embed(timestep_ratio)
        b = clip_text_pooled.size(0)
        clip = self.clip_norm(self.clip_mapper(clip_text_pooled).view(b, clip_text_pooled.size(1) * self.c_clip_seq, -1))
        x = self.embedding(sample)
        x = x + self.effnet_mapper(F.interpolate(effnet, size=x.shape[-2:], mode="bilinear", align_corners=True))
        # The original's optional pixels input is fixed at zeros [B,3,8,8] in the export.
        pixels = sample.new_zeros(b, 3, 8, 8)
        x = x + F.interpolate(self.pixels_mapper(pixels), size=x.shape[-2:], mode="bilinear", align_corners=True)
        x = self._up_decode(self._down_encode(x, r_embed, clip), r_embed, clip)
        return self.clf(x)


class StageAResBlock(nn.Module):
    def __init__(self, c, c_hidden):
        super().__init__()
        self.norm1 = LayerNorm(c)
        self.depthwise = nn.Sequential(nn.ReplicationPad2d(1), nn.Conv2d(c, c, kernel_size=3, groups=c))
        self.norm2 = LayerNorm(c)
        self.channelwise = nn.Sequential(nn.Linear(c, c_hidden), nn.GELU(), nn.Linear(c_hidden, c))
        # Trained values are small; zeros (the initial value) would make the block an identity.
        self.gammas = nn.Parameter(torch.randn(6) * 0.1)

    def forward(self, x):
        g = self.gammas
        t = self.norm1(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2) * (1 + g[0]) + g[1]
        x = x + self.depthwise(t) * g[2]
        t = self.norm2(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2) * (1 + g[3]) + g[4]
        return x + self.channelwise(t.permute(0, 2, 3, 1)).permute(0, 3, 1, 2) * g[5]


class StageADecoder(nn.Module):
    """Stage A's VQGAN decoder half (the export's vae_decoder): latent [B,4,h,w] → RGB [B,3,4h,4w]."""

    def __init__(self, levels=2, bottleneck_blocks=12, c_hidden=384, c_latent=4):
        super().__init__()
        c_levels = [c_hidden // (2 ** i) for i in reversed(range(levels))]
        up = [nn.Sequential(nn.Conv2d(c_latent, c_levels[-1], kernel_size=1))]
        for i in range(levels):
            for _ in range(bottleneck_blocks if i == 0 else 1):
                up.append(StageAResBlock(c_levels[levels - 1 - i], c_levels[levels - 1 - i] * 4))
            if i < levels - 1:
                up.append(nn.ConvTranspose2d(c_levels[levels - 1 - i], c_levels[levels - 2 - i], kernel_size=4, stride=2, padding=1))
        self.up_blocks = nn.Sequential(*up)
        self.out_block = nn.Sequential(nn.Conv2d(c_levels[0], 3 * 4, kernel_size=1), nn.PixelShuffle(2))

    def forward(self, sample):
        # The export's output is the image in [0,1]: the original maps [-1,1]-ish output there.
        return self.out_block(self.up_blocks(sample)).clamp(0, 1)


def stage_a_encoder_params(levels=2, c_hidden=384, c_latent=4, codebook_size=8192):
    """Parameters of Stage A's encoder half and codebook (not exported), for the published total."""
    c_levels = [c_hidden // (2 ** i) for i in reversed(range(levels))]
    n = 3 * 4 * c_levels[0] + c_levels[0]
    for i in range(levels):
        if i > 0:
            n += c_levels[i - 1] * c_levels[i] * 16 + c_levels[i]
        c, h = c_levels[i], c_levels[i] * 4
        n += 6 + (c * 9 + c) + (c * h + h) + (h * c + c)
    n += c_levels[-1] * c_latent + 2 * c_latent + codebook_size * c_latent
    return n


# --- EfficientNetV2-S features (the EffNet encoder's backbone) ---------------------------------

def conv_bn_act(c_in, c_out, k, stride=1, groups=1, act=True):
    layers = [nn.Conv2d(c_in, c_out, k, stride, padding=(k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out, eps=1e-3)]
    if act:
        layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class FusedMBConv(nn.Module):
    def __init__(self, c_in, c_out, expand, stride):
        super().__init__()
        self.residual = stride == 1 and c_in == c_out
        c_exp = c_in * expand
        if expand != 1:
            self.block = nn.Sequential(conv_bn_act(c_in, c_exp, 3, stride), conv_bn_act(c_exp, c_out, 1, act=False))
        else:
            self.block = nn.Sequential(conv_bn_act(c_in, c_out, 3, stride))

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


class SqueezeExcite(nn.Module):
    def __init__(self, c, c_squeeze):
        super().__init__()
        self.fc1 = nn.Conv2d(c, c_squeeze, 1)
        self.fc2 = nn.Conv2d(c_squeeze, c, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.fc2(F.silu(self.fc1(s))))


class MBConv(nn.Module):
    def __init__(self, c_in, c_out, expand, stride):
        super().__init__()
        self.residual = stride == 1 and c_in == c_out
        c_exp = c_in * expand
        self.block = nn.Sequential(conv_bn_act(c_in, c_exp, 1), conv_bn_act(c_exp, c_exp, 3, stride, groups=c_exp),
                                   SqueezeExcite(c_exp, max(1, c_in // 4)), conv_bn_act(c_exp, c_out, 1, act=False))

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


# (block, expand, stride, c_in, c_out, layers) of EfficientNetV2-S.
EFFNET_V2_S = [("fused", 1, 1, 24, 24, 2), ("fused", 4, 2, 24, 48, 4), ("fused", 4, 2, 48, 64, 4),
               ("mb", 4, 2, 64, 128, 6), ("mb", 6, 1, 128, 160, 9), ("mb", 6, 2, 160, 256, 15)]


class EffNetEncoder(nn.Module):
    """Image (ImageNet-normalised) → Stage C latent at 1/32: EfficientNetV2-S features, a 1x1 conv
    to 16 channels and a BatchNorm without affine parameters."""

    def __init__(self, c_latent=16, stages=EFFNET_V2_S, width=1.0, depth=1.0):
        super().__init__()
        w = lambda c: max(8, int(c * width))
        stages = [(kind, e, s, a, b, max(1, round(n * depth))) for kind, e, s, a, b, n in stages]
        layers = [conv_bn_act(3, w(stages[0][3]), 3, 2)]
        for kind, expand, stride, c_in, c_out, n in stages:
            for i in range(n):
                block = FusedMBConv if kind == "fused" else MBConv
                layers.append(block(w(c_in) if i == 0 else w(c_out), w(c_out), expand, stride if i == 0 else 1))
        layers.append(conv_bn_act(w(stages[-1][4]), w(1280), 1))
        self.backbone = nn.Sequential(*layers)
        self.mapper = nn.Sequential(nn.Conv2d(w(1280), c_latent, kernel_size=1, bias=False), nn.BatchNorm2d(c_latent, affine=False))

    def forward(self, pixel_values):
        return self.mapper(self.backbone(pixel_values))


class Previewer(nn.Module):
    """Stage C latent [B,16,h,w] → RGB preview [B,3,8h,8w]."""

    def __init__(self, c_in=16, c_hidden=512, c_out=3):
        super().__init__()
        h, h2, h4 = c_hidden, c_hidden // 2, c_hidden // 4

        def stage(a, b, up):
            conv = nn.ConvTranspose2d(a, b, kernel_size=2, stride=2) if up else nn.Conv2d(a, b, kernel_size=1)
            return [conv, nn.GELU(), nn.BatchNorm2d(b), nn.Conv2d(b, b, kernel_size=3, padding=1), nn.GELU(), nn.BatchNorm2d(b)]

        self.blocks = nn.Sequential(*stage(c_in, h, False), *stage(h, h2, True), *stage(h2, h4, True), *stage(h4, h4, True), nn.Conv2d(h4, c_out, kernel_size=1))

    def forward(self, sample):
        return self.blocks(sample)


def calibrate_batchnorms(net, example, passes=2):
    """Random weights leave BatchNorm's running statistics at (0, 1), which a deep random net's
    activations are far from (the EffNet's output would be ~0): a few forward passes in training
    mode on an example input set them, as training would, then the net goes back to eval."""
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # cumulative average
            m.reset_running_stats()
    net.train()
    with torch.no_grad():
        for _ in range(passes):
            net(example)
    return net.eval()
