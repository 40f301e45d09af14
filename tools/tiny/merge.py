"""Merges separately trained parts into the main checkpoint: python3 merge.py main.pt text.pt eff_more.pt"""
import sys
import torch
main, text, eff = sys.argv[1:4]
ck = torch.load(main)
t = torch.load(text)
for k in ("te", "parse", "tokhead"):
    ck["models"][k] = t["models"][k]
ck["elapsed"]["text"] = t["elapsed"]["text"]
ck["steps"]["text"] = t["steps"]["text"]
e = torch.load(eff)
ck["models"]["eff_enc"] = e["eff_enc"]
ck["models"]["eff_dec"] = e["eff_dec"]
ck["opt"].pop("text", None)
torch.save(ck, main)
print("merged", ck["elapsed"], ck["steps"])
