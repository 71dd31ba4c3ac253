"""The console's words, Chinese first (`zh`) with English (`en`), switched by `?lang=en` or the
`xiaoer_lang` cookie. A missing key shows the key itself, so a gap is visible, not an error."""

from __future__ import annotations

from collections.abc import Callable

LANGS = ("zh", "en")

WORDS: dict[str, tuple[str, str]] = {
    "title": ("店小二 商家后台", "xiaoer merchant console"),
    "login": ("登录", "Sign in"),
    "logout": ("退出", "Sign out"),
    "name": ("账号", "Account"),
    "password": ("密码", "Password"),
    "bad_login": ("账号或密码错误", "Wrong account name or password"),
    "throttled": (
        "登录失败次数过多，请一分钟后再试",
        "Too many failed sign-ins; try again in a minute",
    ),
    "dashboard": ("数据看板", "Dashboard"),
    "conversations": ("会话", "Conversations"),
    "queue": ("人工队列", "Handoff queue"),
    "settings": ("设置", "Settings"),
    "since": ("开始日期", "From"),
    "until": ("结束日期", "To"),
    "apply": ("查询", "Apply"),
    "figure": ("指标", "Figure"),
    "value": ("数值", "Value"),
    "counted": ("统计口径", "Counted from"),
    "one_day": ("选择两天以上可看趋势图", "Pick two days or more to see the charts"),
    "daily": ("每日数据", "Daily"),
    "day": ("日期", "Day"),
    "reasons": ("转人工原因", "Handoff reasons"),
    "none": ("无", "none"),
    "search": ("搜索", "Search"),
    "search_hint": ("消息内容、会话或顾客编号", "message text, conversation or shopper id"),
    "handoff": ("转人工", "Handoff"),
    "any": ("全部", "any"),
    "yes": ("有", "yes"),
    "no": ("无", "no"),
    "outcome": ("结果", "Outcome"),
    "rating": ("顾客评价", "Shopper's rating"),
    "shopper": ("顾客", "Shopper"),
    "channel": ("渠道", "Channel"),
    "mode": ("状态", "Mode"),
    "updated": ("最近活动", "Last active"),
    "messages": ("消息数", "Messages"),
    "last_message": ("最后一条", "Last message"),
    "no_conversations": ("没有符合条件的会话", "No conversations match"),
    "transcript": ("会话记录", "Transcript"),
    "tool_calls": ("工具调用", "Tool calls"),
    "guard": ("核查", "Guard"),
    "passed": ("通过", "passed"),
    "failed": ("未通过", "failed"),
    "citations": ("引用", "Citations"),
    "actions": ("操作", "Actions"),
    "other_actions": ("其他操作", "Other actions"),
    "handoffs": ("转人工记录", "Handoffs"),
    "reason": ("原因", "Reason"),
    "waiting": ("等待（分钟）", "Waiting (min)"),
    "summary": ("AI 摘要", "AI summary"),
    "priority": ("优先级", "Priority"),
    "status": ("状态", "Status"),
    "agent": ("客服", "Agent"),
    "queue_empty": ("队列为空", "The queue is empty"),
    "open": ("查看", "Open"),
    "shop": ("店铺", "Shop"),
    "timezone": ("时区", "Timezone"),
    "working_hours": ("工作时间", "Working hours"),
    "llm_backend": ("大模型", "LLM backend"),
    "llm_endpoint": ("OpenAI 兼容接口", "OpenAI-compatible endpoint"),
    "llm_model": ("模型", "model"),
    "llm_embedded": ("本机内置模型（无需联网）", "the embedded local model (no network)"),
    "turn_deadline": ("每轮时限", "turn deadline"),
    "llm_note": (
        "部署时用环境变量设置（XIAOER_LLM_BASE_URL、XIAOER_LLM_MODEL、XIAOER_TURN_DEADLINE），对所有店铺生效。",
        "Set per deployment with environment variables (XIAOER_LLM_BASE_URL, XIAOER_LLM_MODEL, "
        "XIAOER_TURN_DEADLINE), for every shop.",
    ),
    "handoff_rules": ("转人工规则", "Handoff rules"),
    "account_actions": ("操作", "Actions"),
    "add_agent": ("添加客服账号", "Add an agent account"),
    "add_agent_note": (
        "客服账号可以接待转人工的会话、回复和审批，不能改知识库、策略和设置；把账号名和初始密码告诉客服本人。",
        "An agent takes handed-over conversations, replies and reviews actions, but cannot "
        "change knowledge, policy or settings; give the name and first password to the agent.",
    ),
    "agent_name": (
        "账号名（字母、数字或 . _ @ + -）",
        "Account name (letters, digits or . _ @ + -)",
    ),
    "agent_password": ("初始密码（至少 8 位）", "First password (at least 8 characters)"),
    "remove_agent": ("移除", "Remove"),
    "done_agent_added": ("已添加客服账号", "Agent account added"),
    "done_agent_removed": ("已移除该客服账号", "Agent account removed"),
    "handoff_asks": ("顾客要求人工时立即转", "at once when the shopper asks for a person"),
    "handoff_failures": (
        "连续答不上几轮后转",
        "after this many turns in a row the bot could not answer",
    ),
    "handoff_upset": (
        "连续几条不满后转（明显愤怒一条即转）",
        "after this many upset messages in a row (one clearly angry one is enough)",
    ),
    "handoff_order_above": (
        "订单金额超过此数的改动转人工",
        "changes to orders above this total go to a person",
    ),
    "handoff_levels": (
        "这些会员等级的改动转人工",
        "changes for these shopper levels go to a person",
    ),
    "handoff_minutes": ("排队时每位预计分钟数", "minutes each conversation ahead in the queue"),
    "edit_in_policy": ("在“店铺策略”页修改", "Edit on the Policy page"),
    "api_key": ("API 密钥", "API key"),
    "accounts": ("控制台账号", "Console accounts"),
    "usage": ("用量（近 30 天）", "Usage (last 30 days)"),
    "usage_note": (
        "每位顾客在店铺时区的一天里发过消息，当天计 1 个 UV。每天不超过免费额度时免费；套餐按最忙一天的 UV 选。",
        "A shopper who wrote on a day of the shop's calendar counts once that day (UV). Free while "
        "every day stays within the free tier; the plan follows the busiest day.",
    ),
    "peak_uv": ("最高日 UV", "Busiest day's UV"),
    "free_tier": ("免费额度（日 UV）", "Free tier (daily UV)"),
    "days_over": ("超出免费额度的天数", "Days over the free tier"),
    "plan_needed": ("所需套餐", "Plan needed"),
    "plan_free": ("免费版", "Free"),
    "plan_none": ("超出所有套餐，请联系服务商", "Above every plan: ask the operator"),
    "role": ("角色", "Role"),
    "read_only": (
        "店铺资料来自导入的店铺包（xiaoer shop import）；策略在“店铺策略”页编辑。",
        "The shop's details come from its imported bundle (xiaoer shop import); the policy is edited on the Policy page.",
    ),
    "error": ("出错了", "Something went wrong"),
    "back": ("返回后台", "Back to the console"),
    "role_shopper": ("顾客", "shopper"),
    "role_assistant": ("店小二", "bot"),
    "role_agent": ("人工客服", "human agent"),
    "role_whisper": ("内部指示", "whisper"),
    "knowledge": ("知识库", "Knowledge"),
    "workbench": ("人工工作台", "Human workbench"),
    "takeover": ("接手", "Take over"),
    "reply": ("回复顾客", "Reply to the shopper"),
    "send": ("发送", "Send"),
    "whisper": ("悄悄话（仅 AI 可见）", "Whisper to the AI (the shopper never sees it)"),
    "whisper_send": ("告诉 AI", "Tell the AI"),
    "release": ("交还AI", "Release to the AI"),
    "approve": ("批准", "Approve"),
    "reject": ("拒绝", "Reject"),
    "note": ("备注", "Remark"),
    "awaiting": ("待商家审批", "Awaiting your approval"),
    "held_by": ("当前处理人", "Held by"),
    "done_taken": ("已接手，AI 暂停回复", "Taken over; the AI stays silent"),
    "done_replied": ("回复已发送", "Reply sent"),
    "done_whispered": (
        "悄悄话已记下，AI 下一轮起遵循",
        "Whisper noted; the AI follows it from its next turn",
    ),
    "done_released": ("已交还 AI", "Released to the AI"),
    "done_assist_on": ("智能辅助已开启（策略新版本）", "Assist mode is on (a new policy version)"),
    "done_assist_off": (
        "智能辅助已关闭（策略新版本）",
        "Assist mode is off (a new policy version)",
    ),
    "assist_mode": ("智能辅助", "Assist mode"),
    "assist_note": (
        "开启后，每个会话都进入人工队列，AI 不直接回复顾客，只在工作台起草回复，由客服核对后发送。"
        "切换会发布一个新的策略版本（handoff.assist），可在策略页回滚。",
        "When on, every conversation goes to the human queue: the AI answers no shopper itself "
        "and only drafts replies in the workbench for an agent to check and send. Switching "
        "publishes a new policy version (handoff.assist), which the policy page can roll back.",
    ),
    "assist_is_on": ("当前：已开启，AI 只起草", "Now: on, the AI only drafts"),
    "assist_is_off": ("当前：关闭，AI 直接回复顾客", "Now: off, the AI answers shoppers"),
    "assist_turn_on": ("开启智能辅助", "Turn assist mode on"),
    "assist_turn_off": ("关闭智能辅助", "Turn assist mode off"),
    "assist_hint": (
        "智能辅助：AI 不直接回复。点「AI 建议回复」起草，核对、修改后发送。",
        "Assist mode: the AI does not answer. Press 'Suggest a reply' for a draft, check it, "
        "edit it and send it.",
    ),
    "done_approved": ("已批准，结果已发给顾客", "Approved; the outcome went to the shopper"),
    "done_rejected": ("已拒绝", "Rejected"),
    "done_kn_approved": ("已批准，答案已可检索", "Approved; the answer is searchable now"),
    "done_kn_rejected": ("已拒绝该候选", "Candidate rejected"),
    "done_fact_added": ("已添加商家补充", "Fact added"),
    "candidates": ("待审核的问答", "Candidates to review"),
    "no_candidates": ("没有待审核的问答", "No candidates wait for review"),
    "question": ("问题", "Question"),
    "answer": ("答案", "Answer"),
    "variants": ("相关问法", "Other wordings"),
    "score": ("得分", "Score"),
    "source_chat": ("来源对话", "Source chat"),
    "no_excerpt": ("来源对话已不在记录中", "The source chat is no longer on record"),
    "approve_edited": ("按修改后的内容批准", "Approve as edited"),
    "facts": ("商家补充", "Merchant facts"),
    "no_facts": ("还没有商家补充", "No facts yet"),
    "fact": ("内容", "Fact"),
    "expires": ("到期日（含当日，可不填）", "Expires after (optional)"),
    "expired": ("已过期", "expired"),
    "never": ("长期有效", "never"),
    "add_fact": ("添加", "Add"),
    "policy": ("店铺策略", "Policy"),
    "policy_intro": (
        "这里是 AI 办理取消、退款、退换货等操作时遵守的规则（YAML，金额单位为元，字段说明见 docs/policy.md）。"
        "先“检查”看改动和试运行结果，再“发布”；每次发布都是一个新版本，可随时回滚。",
        "The rules the AI follows when it cancels, refunds, returns or exchanges (YAML, amounts "
        "in yuan; fields in docs/policy.md). Check first to see the changes and the dry run, "
        "then publish; every publish is a new version, and any version can be rolled back to.",
    ),
    "policy_text": ("策略内容（YAML）", "Policy (YAML)"),
    "check": ("检查", "Check"),
    "with_replay": (
        "同时试运行：用新策略重新判定已记录的操作",
        "Also dry-run: re-decide the recorded actions under the draft",
    ),
    "publish": ("发布", "Publish"),
    "problems": ("问题", "Problems"),
    "line": ("行", "line"),
    "changes": ("改动", "Changes"),
    "no_changes": ("与当前策略相同", "Same as the policy in force"),
    "dry_run": ("试运行", "Dry run"),
    "versions": ("版本", "Versions"),
    "version": ("版本", "Version"),
    "created": ("时间 (UTC)", "Created (UTC)"),
    "source": ("来源", "Source"),
    "in_force": ("当前生效", "in force"),
    "view": ("查看", "View"),
    "rollback": ("回滚到此版本", "Roll back to this version"),
    "back_to_policy": ("返回策略编辑", "Back to the policy"),
    "done_policy_published": ("已发布新版本", "Published as a new version"),
    "done_policy_unchanged": (
        "内容与当前版本相同，未新增版本",
        "Same as the version in force; no new version",
    ),
    "done_policy_rolled_back": (
        "已回滚（作为新版本发布）",
        "Rolled back (published as a new version)",
    ),
    "inspection": ("质检", "Quality inspection"),
    "inspection_intro": (
        "每个会话（AI 和人工）都按消极服务的几种表现检查，附上原话；店主可以确认或排除每一条，排除的不计入比率。",
        "Every conversation, AI or human, is read for the patterns of negative service, each "
        "with its evidence line; the owner confirms or dismisses each finding, and dismissed "
        "ones leave the rates.",
    ),
    "pattern": ("类型", "Pattern"),
    "all_patterns": ("全部类型", "All patterns"),
    "rate": ("会话占比", "Share of conversations"),
    "findings": ("条数", "Findings"),
    "conversations_read": ("个会话已检查", "conversations read"),
    "review_queue": ("质检记录（待复核在前）", "Findings (review queue)"),
    "no_findings": ("这段时间没有发现问题", "No findings in this period"),
    "verdict_confirmed": ("确认属实", "Confirm"),
    "verdict_dismissed": ("排除", "Dismiss"),
    "role_action": ("操作", "action"),
    "done_qc_reviewed": ("已记录复核结果", "Verdict recorded"),
    "suggest": ("AI 建议回复", "Suggest a reply"),
    "suggestion": ("AI 建议", "AI suggestion"),
    "suggestion_note": (
        "AI 的建议已填入下方回复框：可直接发送，也可以先修改。依据如下：",
        "The AI's draft is in the reply box below: send it as is or edit it first. It rests on:",
    ),
    "suggestion_unsourced": (
        "这条建议没有查到的依据，请核实后再发送。",
        "This draft rests on no lookup or knowledge: check it before you send it.",
    ),
    "live_changed": ("有新消息或队列有变化。", "New messages or queue changes."),
    "refresh": ("刷新", "Refresh"),
    "rotate_key": (
        "生成新的 API 密钥（旧密钥立即失效）",
        "New API key (the old one stops working at once)",
    ),
    "new_key": (
        "新的 API 密钥，只显示这一次，请立即保存：",
        "The new API key, shown this once only; keep it now:",
    ),
    "widget": ("顾客聊天窗", "Shopper widget"),
    "widget_note": (
        "把下面这一行放到店铺的任何页面上。顾客令牌由您的服务器在顾客登录后签发（POST /v1/shopper-tokens，用上面的 API 密钥）；"
        "页面与本服务不同源时，把页面的域名加入 XIAOER_WIDGET_ORIGINS。详见 docs/widget.md。",
        "Put this line on any page of the shop. Your server mints the shopper token once the "
        "shopper signed in (POST /v1/shopper-tokens, with the API key above); a page on another "
        "origin needs it in XIAOER_WIDGET_ORIGINS. See docs/widget.md.",
    ),
    "widget_token": ("顾客令牌", "shopper token"),
    "ask_box": ("试问：顾客会怎么问？", "Try a question a shopper would ask"),
    "import_doc": ("导入文档", "Import a document"),
    "import_file": (
        "文件（Markdown、HTML、TXT、DOCX 或 PDF，最大 5 MB）",
        "File (Markdown, HTML, TXT, DOCX or PDF, up to 5 MB)",
    ),
    "import_note": (
        "正在切分并向量化文档，进度如下；关闭页面不会中断导入。",
        "The document is being split and embedded; closing this page does not stop the import.",
    ),
    "embedding": ("已处理段落", "passages embedded"),
    "import_done": ("导入完成：", "Imported: "),
    "passages": ("段", "passages"),
    "import_added": ("新增", "added"),
    "import_replaced": ("已替换旧版本", "replaced the earlier version"),
    "import_unchanged": ("内容没有变化", "unchanged"),
    "import_failed": ("导入失败：", "Import failed: "),
    "import_unreadable": ("无法读取这个文件，请确认格式正确", "the file could not be read"),
    "back_to_knowledge": ("返回知识库", "Back to knowledge"),
    "ask": ("查找", "Look up"),
    "found": ("知识库找到的内容", "What the knowledge search finds"),
    "found_note": (
        "AI 回答这个问题时会看到下面这些内容（按相关度排序）；没有合适的就补充一条商家知识。",
        "The AI is shown these when it answers that question (best first); if none fits, add a fact.",
    ),
    "found_nothing": ("没有找到相关内容", "Nothing found"),
    "owner_reviews": (
        "知识会影响 AI 对所有顾客的回答，因此只有店主可以批准、拒绝或添加；客服账号只读。",
        "Knowledge changes what the AI tells every shopper, so only the owner approves, rejects "
        "or adds; agent accounts see this page read-only.",
    ),
}


def lang_of(query: str | None, cookie: str | None) -> str:
    for candidate in (query, cookie):
        if candidate in LANGS:
            return candidate
    return "zh"


def translator(lang: str) -> Callable[[str], str]:
    index = 1 if lang == "en" else 0

    def t(key: str) -> str:
        words = WORDS.get(key)
        return words[index] if words else key

    return t
